/**
 * The one error class of @sarai/containers. `code` is stable and machine-readable.
 * @typedef {'CONTAINERS_BAD_ARGS'
 *   | 'CONTAINERS_COMMAND_FAILED'
 *   | 'CONTAINERS_DOCKER_UNAVAILABLE'
 *   | 'CONTAINERS_NODE_INTEGRITY'
 *   | 'CONTAINERS_ADDON_MISSING'
 *   | 'CONTAINERS_LIB_NOT_FOUND'
 *   | 'CONTAINERS_PACKAGE_NOT_FOUND'
 *   | 'CONTAINERS_DEP_NOT_INSTALLED'
 *   | 'CONTAINERS_PACKAGE_NOT_BUILT'
 *   | 'CONTAINERS_STAGING_CONFLICT'
 *   | 'CONTAINERS_DOCKERFILE_INVALID'} ContainersErrorCode
 */
export class ContainersError extends Error {
  /**
   * @param {ContainersErrorCode} code
   * @param {string} message
   * @param {{ cause?: unknown }} [options]
   */
  constructor(code, message, options) {
    super(message, options);
    this.name = 'ContainersError';
    /** @readonly */
    this.code = code;
  }
}
