// Entrypoint of the skill-image container: node /app/node_modules/@sarai/skill-image/dist/main.js
import { runSkill } from '@sarai/skill-runtime';
import { imageSkill } from './service.js';

runSkill(imageSkill);
