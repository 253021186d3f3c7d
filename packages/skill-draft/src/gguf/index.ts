// GGUF writer: seeded random-weight models and LoRA adapters (tests, benchmarks, trainer fixtures).
export { Prng } from './prng.js';
export {
  GgmlType,
  TYPE_LAYOUT,
  decode,
  encode,
  f16ToF32,
  f32ToF16,
  tensorBytes,
  type GgmlTypeName,
} from './quant.js';
export {
  CHATML_TEMPLATE,
  QWEN_SPECIALS,
  TokenType,
  byteLevelVocab,
  bytesToUnicode,
  type ByteLevelVocab,
  type ByteLevelVocabOptions,
  type TokenClass,
} from './tokenizer.js';
export {
  ggufHeader,
  meta,
  writeGguf,
  type GgufFileSpec,
  type GgufMetaValue,
  type GgufTensorSpec,
} from './writer.js';
export {
  MODEL_PRESETS,
  ensureModel,
  generateLoraAdapter,
  generateModel,
  modelFileName,
  presetVocab,
  type GenerateLoraOptions,
  type GenerateModelOptions,
  type GeneratedModel,
  type LoraTarget,
  type ModelDims,
  type ModelPreset,
  type ModelWeightType,
} from './models.js';
