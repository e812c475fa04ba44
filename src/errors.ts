/**
 * Errors a user can cause. The CLI prints their message as one line and exits with `exitCode`;
 * anything else that escapes is a bug and keeps its stack trace.
 */
export class UserError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
  ) {
    super(message);
    this.name = new.target.name;
  }
}

/** A bad command line: unknown option, a value out of range, a missing argument. Exit code 2. */
export class UsageError extends UserError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

/**
 * What would fix a data error, for the caller to say in its own terms: the CLI names its option, a
 * program its own setting. `regression`: train on the values (the squared error); `declare-classes`:
 * give the number of classes.
 */
export type Remedy = 'regression' | 'declare-classes';

/** A file that is missing, unreadable or malformed. Exit code 1. */
export class DataError extends UserError {
  constructor(
    message: string,
    readonly remedy?: Remedy,
  ) {
    super(message, EXIT.runtime);
  }
}

export const EXIT = {
  ok: 0,
  runtime: 1,
  usage: 2,
  diverged: 3,
  interrupted: 130,
  terminated: 143,
} as const;
