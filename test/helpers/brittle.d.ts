// The part of brittle's API these tests use (brittle ships no TypeScript types).
declare module 'brittle' {
  interface Assertion {
    is (actual: unknown, expected: unknown, message?: string): void
    not (actual: unknown, expected: unknown, message?: string): void
    alike (actual: unknown, expected: unknown, message?: string): void
    unlike (actual: unknown, expected: unknown, message?: string): void
    ok (value: unknown, message?: string): void
    absent (value: unknown, message?: string): void
    pass (message?: string): void
    fail (message?: string): void
    comment (...message: unknown[]): void
    exception: ((fn: (() => unknown) | Promise<unknown>, expected?: unknown, message?: string) => Promise<void> | void) & {
      all: (fn: (() => unknown) | Promise<unknown>, expected?: unknown, message?: string) => Promise<void> | void
    }
    execution (fn: (() => unknown) | Promise<unknown>, message?: string): Promise<void> | void
  }
  interface Test extends Assertion {
    plan (count: number): void
    teardown (fn: () => unknown, options?: { order?: number, force?: boolean }): void
    timeout (ms: number): void
    test (name: string, fn: (t: Test) => unknown): Promise<void>
    tmp (): Promise<string>
  }
  interface TestFunction {
    (name: string, fn: (t: Test) => unknown): void
    (name: string, options: { timeout?: number, skip?: boolean }, fn: (t: Test) => unknown): void
    skip (name: string, fn: (t: Test) => unknown): void
    solo (name: string, fn: (t: Test) => unknown): void
    configure (options: { timeout?: number, serial?: boolean, bail?: boolean }): void
  }
  const test: TestFunction
  export default test
  export type { Test }
}
