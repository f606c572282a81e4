/** Command-line walking shared by the start command and the fetch CLI. */

/** A mistake in how a command was called: printed with its usage text, exit code 2. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "UsageError";
  }
}

export interface ArgOption {
  /** The option or positional word, without any `=value` part. */
  arg: string;
  /** The option's value: the `--name=value` part, else the next word (which is consumed). */
  value(): string;
}

/** Walks argv word by word; calling `value()` consumes the following word. */
export function* walkArgs(argv: readonly string[]): Generator<ArgOption> {
  for (let i = 0; i < argv.length; i++) {
    let arg = argv[i];
    let inline: string | undefined;
    if (arg.startsWith("--") && arg.includes("=")) {
      inline = arg.slice(arg.indexOf("=") + 1);
      arg = arg.slice(0, arg.indexOf("="));
    }
    const name = arg;
    yield {
      arg,
      value: () => {
        if (inline !== undefined) return inline;
        const v = argv[++i];
        if (v === undefined) throw new UsageError(`${name} needs a value`);
        return v;
      },
    };
  }
}
