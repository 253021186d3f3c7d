// @sarai/formats: shared file formats and small primitives. Depends on nothing of ours; every package may import it.
export { FORMATS_ERROR_CODES, FormatsError, isFormatsError, type FormatsErrorCode } from './errors.js';
export { errorMessage } from './error-message.js';
export { envBool, envInt } from './env-values.js';
export { sha256File, sha256Text } from './hash.js';
export { Prng, mulberry32 } from './prng.js';
export { freePort } from './free-port.js';
export {
  GGML_TYPE,
  GgmlType,
  TYPE_LAYOUT,
  decode,
  encode,
  f16ToF32,
  f32ToF16,
  tensorBytes,
  type GgmlTypeName,
} from './gguf/quant.js';
export {
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_VALUE_TYPE,
  meta,
  type GgufMetaValue,
  type GgufScalar,
  type GgufScalarType,
} from './gguf/metadata.js';
export {
  encodeGguf,
  f32Tensor,
  ggufHeader,
  writeGguf,
  type GgufFileSpec,
  type GgufTensorSpec,
} from './gguf/writer.js';
export {
  metaNumber,
  metaString,
  readGgufHeader,
  readGgufTensorF32,
  type GgufFile,
  type GgufTensorInfo,
  type GgufValue,
} from './gguf/reader.js';
export {
  ADAPTER_FILE,
  adapterArtifacts,
  adapterFileName,
  adapterName,
  compareAdapterFiles,
  dateStamp,
  type AdapterArtifacts,
} from './adapter-files.js';
export {
  ADAPTER_MANIFEST_SCHEMA_ID,
  AdapterManifestIdentitySchema,
  AdapterManifestSchema,
  serializeAdapterManifest,
  type AdapterManifest,
  type AdapterManifestIdentity,
} from './adapter-manifest.js';
export {
  InteractionCheckSchema,
  InteractionIterationSchema,
  InteractionOutcomeIterationSchema,
  InteractionOutcomeSchema,
  InteractionRecordSchema,
  type InteractionCheck,
  type InteractionIteration,
  type InteractionOutcome,
  type InteractionOutcomeIteration,
  type InteractionRecord,
} from './interaction-record.js';
export {
  BENCH_RESULTS_SCHEMA_ID,
  runBench,
  type BenchContext,
  type BenchResults,
  type BenchRunRecord,
  type BenchRunOptions,
} from './bench-run.js';
