// Public API of @sarai/cli (the `sarai` binary is dist/main.js).
export { USAGE, runCli } from './cli.js';
export { CliError, type CliErrorCode } from './errors.js';
export { processIo, type Io } from './io.js';
export { startEmbedded, type Deployment } from './embedded.js';
export { openSession, statePaths, type Session, type SessionOptions } from './session.js';
export { loadDataset, BUNDLED_DATASET, type Task } from './dataset.js';
export { percentile, table } from './stats.js';
