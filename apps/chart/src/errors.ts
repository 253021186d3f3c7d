/** Stable codes of {@link ChartError}. */
export type ChartErrorCode =
  'CHART_HELM_UNAVAILABLE' | 'CHART_HELM_FAILED' | 'CHART_BAD_MANIFEST' | 'CHART_NO_SCHEMA';

/** The one error class of @sarai/chart: a stable `code` plus a message that says what to fix. */
export class ChartError extends Error {
  override readonly name = 'ChartError';
  constructor(
    readonly code: ChartErrorCode,
    message: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
