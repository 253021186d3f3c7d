// Sources of the minimal skill an outside project builds from the published @sarai/proto and @sarai/skill-runtime.

export const consumerServer = `import { GenReply, type ISkill } from '@sarai/proto';
import { createLogger, startSkillServer } from '@sarai/skill-runtime';

// An "echo" skill: Generate answers with the prompt upper-cased.
const implementation: Partial<ISkill> = {
  generate(call, callback) {
    const text = call.request.prompt.toUpperCase();
    callback(null, GenReply.create({ text, tokensGenerated: text.length, finishReason: 'stop', model: 'echo' }));
  },
};

const skill = await startSkillServer({
  name: 'echo',
  host: '127.0.0.1',
  port: Number(process.env['PORT'] ?? 0),
  implementation,
  logger: createLogger({ name: 'echo', level: 'warn' }),
  serving: true,
});
console.log(JSON.stringify({ port: skill.port }));
process.once('SIGTERM', () => void skill.shutdown('SIGTERM').then(() => process.exit(0)));
`;

export const consumerClient = `import { GenReq, connectSkill, grpcHealthV1 } from '@sarai/proto';

const conn = connectSkill(\`127.0.0.1:\${process.argv[2]}\`, { timeoutMs: 10_000 });
const health = await conn.grpcHealth.check({ service: 'skills.Skill' }).response;
const reply = await conn.skill.generate(GenReq.create({ prompt: 'hello from outside', maxTokens: 8 })).response;
console.log(JSON.stringify({ serving: health.status === grpcHealthV1.HealthCheckResponse_ServingStatus.SERVING, text: reply.text, model: reply.model }));
conn.close();
`;

export const consumerTsconfig = {
  compilerOptions: {
    target: 'es2023',
    lib: ['es2023'],
    module: 'nodenext',
    moduleResolution: 'nodenext',
    strict: true,
    outDir: 'dist',
    rootDir: 'src',
    types: ['node'],
    skipLibCheck: true,
  },
  include: ['src/**/*.ts'],
};
