/** Stable codes of {@link SkillKitError}. */
export type SkillKitErrorCode = 'SKILL_KIT_BAD_NAME' | 'SKILL_KIT_EXISTS' | 'SKILL_KIT_CODEGEN';

/** The one error class of @sarai/skill-kit; `message` says what to fix. */
export class SkillKitError extends Error {
  override readonly name = 'SkillKitError';
  constructor(
    readonly code: SkillKitErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
