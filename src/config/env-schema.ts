/**
 * TypeBox builders for environment variables. Each variable is a string schema (its pattern and
 * checks, its default as it is written) with a codec to its typed value, and `accepts`: the phrase
 * a start-up error uses to say what the variable allows.
 */
import Type, {
  type StaticDecode,
  type TObject,
  type TProperties,
  type TSchema,
  type TStringOptions,
} from 'typebox';
import Value from 'typebox/value';

/** What every variable schema carries besides JSON Schema. */
interface EnvMeta {
  /** Completes "must be …". */
  accepts: string;
  /** The value is a secret or may hold one (a URL with a password): errors never echo it. */
  secret?: boolean;
}

const TRUE = ['true', '1', 'yes', 'on'];
const FALSE = ['false', '0', 'no', 'off'];
const SIZE_UNITS: Record<string, number> = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 };
const SIZE = /^(\d+)\s*(b|kb|mb|gb)?$/i;

/** A string variable: `check` and `decode` see the trimmed, non-empty value. */
function variable<T>(
  meta: EnvMeta & { default?: string; pattern?: string },
  check: (value: string) => boolean,
  decode: (value: string) => T,
) {
  const options: TStringOptions = { ...meta };
  if (options.default === undefined) delete options.default;
  return Type.Codec(Type.Refine(Type.String(options), check, () => `must be ${meta.accepts}`))
    .Decode(decode)
    .Encode((value) => String(value));
}

/** A whole number from `min` to `max`. */
export function whole(fallback: number | undefined, min: number, max: number) {
  return variable(
    {
      default: fallback === undefined ? undefined : String(fallback),
      pattern: '^\\d+$',
      accepts: `a whole number from ${min} to ${max}`,
    },
    (s) => Number(s) >= min && Number(s) <= max,
    Number,
  );
}

/** A decimal number from `min` to `max`. */
export function decimal(fallback: number, min: number, max: number) {
  return variable(
    {
      default: String(fallback),
      pattern: '^-?\\d+(\\.\\d+)?$',
      accepts: `a number from ${min} to ${max}`,
    },
    (s) => Number(s) >= min && Number(s) <= max,
    Number,
  );
}

/** true/1/yes/on or false/0/no/off, any case. */
export function flag(fallback: boolean) {
  return variable(
    { default: String(fallback), accepts: 'true or false' },
    (s) => TRUE.includes(s.toLowerCase()) || FALSE.includes(s.toLowerCase()),
    (s) => TRUE.includes(s.toLowerCase()),
  );
}

/** One of `allowed`, any case. */
export function choice<const T extends string>(allowed: readonly T[], fallback: T) {
  return variable(
    { default: fallback, accepts: `one of ${allowed.join(', ')}` },
    (s) => (allowed as readonly string[]).includes(s.toLowerCase()),
    (s) => s.toLowerCase() as T,
  );
}

function bytesOf(value: string): number {
  const match = SIZE.exec(value);
  return match ? Number(match[1]) * SIZE_UNITS[(match[2] ?? 'b').toLowerCase()] : NaN;
}

/** A size in bytes written like `512kb` or `10mb`, at least 1kb and at most `max` (also written so). */
export function size(fallback: string, max?: string) {
  const limit = max === undefined ? Number.MAX_SAFE_INTEGER : bytesOf(max);
  return variable(
    {
      default: fallback,
      accepts:
        max === undefined
          ? 'a size of at least 1kb, like 512kb or 10mb'
          : `a size from 1kb to ${max}, like ${fallback}`,
    },
    (s) => Number.isSafeInteger(bytesOf(s)) && bytesOf(s) >= 1024 && bytesOf(s) <= limit,
    bytesOf,
  );
}

/** A URL with one of `protocols` (`'http:'`); decoded without trailing slashes. Never echoed. */
export function url(protocols: string[]) {
  const isUrl = (s: string): boolean => {
    try {
      return protocols.includes(new URL(s).protocol);
    } catch {
      return false;
    }
  };
  return Type.Optional(
    variable(
      {
        secret: true,
        accepts: `a URL starting with ${protocols.map((p) => `${p}//`).join(' or ')}`,
      },
      isUrl,
      (s) => s.replace(/\/+$/, ''),
    ),
  );
}

/** Free text, or text that passes `check`. */
export function text(
  fallback: string,
  rule?: { accepts: string; pattern?: RegExp; check?: (value: string) => boolean },
) {
  return variable(
    { default: fallback, accepts: rule?.accepts ?? 'text' },
    (s) => (rule?.pattern?.test(s) ?? true) && (rule?.check?.(s) ?? true),
    (s) => s,
  );
}

/** Text with no default (the reader fills one in or leaves it unset). */
export function optionalText(rule?: { accepts: string; check: (value: string) => boolean }) {
  return Type.Optional(
    variable({ accepts: rule?.accepts ?? 'text' }, rule?.check ?? (() => true), (s) => s),
  );
}

/** A secret matching `pattern`; errors name the variable, never the value. */
export function secret(pattern: RegExp, accepts: string) {
  return Type.Optional(
    variable(
      { secret: true, accepts },
      (s) => pattern.test(s),
      (s) => s,
    ),
  );
}

/** A variable with a reading of its own: `decode` gives the value, or undefined when it is invalid. */
export function custom<T>(
  fallback: string,
  accepts: string,
  decode: (value: string) => T | undefined,
) {
  return variable(
    { default: fallback, accepts },
    (s) => decode(s) !== undefined,
    (s) => decode(s)!,
  );
}

/**
 * The variables of `schema`, decoded from `env` (values trimmed; empty means unset). Returns the
 * typed values, or one problem per bad variable (`NAME="value": must be …`).
 */
export function decodeEnv<P extends TProperties>(
  schema: TObject<P>,
  env: Record<string, string | undefined>,
): { ok: true; value: StaticDecode<TObject<P>> } | { ok: false; problems: string[] } {
  const given: Record<string, string> = {};
  for (const name of Object.keys(schema.properties)) {
    const value = env[name]?.trim();
    if (value !== undefined && value !== '') given[name] = value;
  }
  const bad = new Set(
    Value.Errors(schema, Value.Default(schema, { ...given })).map(
      (e) => e.instancePath.split('/')[1],
    ),
  );
  if (bad.size === 0) return { ok: true, value: Value.Decode(schema, given) };
  const problems = [...bad].map((name) => {
    const meta = schema.properties[name] as TSchema & EnvMeta;
    return meta.secret
      ? `${name}: must be ${meta.accepts}`
      : `${name}=${JSON.stringify(given[name])}: must be ${meta.accepts}`;
  });
  return { ok: false, problems };
}
