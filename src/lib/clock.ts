/** Time comes from here so that tests can move it instead of sleeping. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Dates cross the API as ISO 8601 strings. */
export const iso = (d: Date) => d.toISOString();
export const seconds = (d: Date) => Math.floor(d.getTime() / 1000);
export const addSeconds = (d: Date, s: number) => new Date(d.getTime() + s * 1000);
