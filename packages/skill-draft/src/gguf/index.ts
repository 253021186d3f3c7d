// Seeded random-weight GGUF models and LoRA adapters (tests, benchmarks, trainer fixtures): the model-specific
// parts (tokenizer, presets, tensor layout). The GGUF writer, the quantizers and the PRNG are @sarai/formats'.
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
