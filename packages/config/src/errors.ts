/** A configuration variable is missing or malformed; the message starts with the variable's name. */
export class ConfigError extends Error {
  override name = 'ConfigError';

  constructor(
    readonly variable: string,
    readonly problem: string,
  ) {
    super(`${variable}: ${problem}`);
  }
}

/** Several variables are wrong at once: every problem is listed, one per line. */
export class ConfigErrors extends ConfigError {
  override name = 'ConfigError';

  constructor(readonly errors: ConfigError[]) {
    super(errors[0]!.variable, errors[0]!.problem);
    this.message = errors.map((e) => e.message).join('\n');
  }
}
