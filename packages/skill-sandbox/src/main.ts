import { runSkill } from '@sarai/skill-runtime';
import { sandboxSkill } from './skill.js';

runSkill(sandboxSkill);
