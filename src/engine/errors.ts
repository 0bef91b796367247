// The two kinds of failure the CLI tells apart: bad input found before training starts (exit
// code 2: a config, a checkpoint, a dataset, a plugin) and a failure during training (exit 1).

/** Bad input, found before any training: the message names the problem and the fix. */
export class InputError extends Error {
  override name = 'InputError';
  /** Details too long for the message (every mismatched key), for the run's log. */
  details?: string[];
  constructor(message: string, options: { cause?: unknown; details?: string[] } = {}) {
    super(message, { cause: options.cause });
    this.details = options.details;
  }
}

/** Runs `fn`; any error it throws becomes an InputError (setup steps whose every failure is bad input). */
export function asInputError<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError((err as Error).message, { cause: err });
  }
}
