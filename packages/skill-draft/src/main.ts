// Entry point of the draft skill image: config from env, gRPC server (NOT_SERVING), model load (SERVING),
// SIGTERM → NOT_SERVING, drain, exit 0.
import { runSkill } from '@sarai/skill-runtime';
import { draftSkill } from './service.js';

runSkill(draftSkill);
