// Module resolution hook for the test files' process (see file-worker.mjs): `@jest/globals` is the
// Jest API of the file being run, as it is under Jest's own runtime.
const GLOBALS_URL = new URL('./globals.mjs', import.meta.url).href;

export async function resolve(specifier, context, next) {
  if (specifier === '@jest/globals') return { url: GLOBALS_URL, shortCircuit: true };
  return next(specifier, context);
}
