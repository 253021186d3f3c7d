import { names } from '@nx/devkit';
import { SKILL_NAME } from '@sarai/skill-registry';
import { SkillKitError } from '../../errors.js';

/** Every spelling of a skill's name the templates use. */
export interface SkillNames {
  /** kebab-case, e.g. `speech-to-text` (package `@sarai/skill-speech-to-text`). */
  name: string;
  /** `SpeechToText` (classes, `SpeechToTextService`). */
  className: string;
  /** `speechToText` (values, `speechToTextServiceDefinition`). */
  propertyName: string;
  /** `SPEECH_TO_TEXT` (error codes, env settings). */
  constantName: string;
  /** `speech_to_text` (proto package and file). */
  snake: string;
}

export function skillNames(raw: string): SkillNames {
  const name = raw.trim();
  if (!SKILL_NAME.test(name) || name.startsWith('skill-') || name.endsWith('-contract')) {
    throw new SkillKitError(
      'SKILL_KIT_BAD_NAME',
      `"${raw}" is not a skill name: use lower-case kebab-case without the "skill-" prefix or "-contract" suffix, e.g. "ocr" or "speech-to-text"`,
    );
  }
  const n = names(name);
  return {
    name,
    className: n.className,
    propertyName: n.propertyName,
    constantName: n.constantName,
    snake: name.replace(/-/g, '_'),
  };
}
