// A registry of named entries open to user code (models, methods, datasets): one name check,
// one rule for replacing an entry, one message for an unknown name.

/** Letters, digits, `_`, `.` and `-`, starting with a letter or digit. */
const VALID_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export class Registry<E extends { name: string }> {
  private readonly entries = new Map<string, E>();

  /**
   * @param kind what an entry is, for messages ('model')
   * @param register the registering function's name, for messages ('registerModel')
   * @param key how a name becomes a key (methods are case-insensitive)
   */
  constructor(
    readonly kind: string,
    private readonly register: string,
    private readonly key: (name: string) => string = (n) => n,
  ) {}

  /** Checks `name` and adds the entry `make(key)` builds; a taken name needs `{ override: true }`. */
  add(name: unknown, make: (key: string) => E, options: { override?: boolean } = {}): E {
    if (typeof name !== 'string' || !VALID_NAME.test(name))
      throw new Error(`${this.register}: '${String(name)}' is not a valid name (letters, digits, _ . and -)`);
    const key = this.key(name);
    if (this.entries.has(key) && !options?.override)
      throw new Error(`${this.register}: a ${this.kind} '${key}' already exists; pass { override: true } to replace it`);
    const entry = make(key);
    this.entries.set(key, entry);
    return entry;
  }

  /** The entry of `name`, or an error that lists every registered name. */
  get(name: string): E {
    const entry = typeof name === 'string' ? this.entries.get(this.key(name)) : undefined;
    if (!entry) throw new Error(`unknown ${this.kind} '${String(name)}'; available: ${this.names().join(', ')}`);
    return entry;
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  values(): E[] {
    return [...this.entries.values()];
  }
}
