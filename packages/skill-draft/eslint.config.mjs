import baseConfig from '../../eslint.config.mjs';

// llama-openmp/: the OpenMP build staged for the image (scripts/openmp-binaries.mjs --stage), git-ignored.
export default [{ ignores: ['llama-openmp/**'] }, ...baseConfig];
