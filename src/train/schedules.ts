/**
 * Learning-rate schedules, each defined once: the factor of the base rate at a point of the run
 * (`progress`, 0 at the first step after the warm-up, 1 at the end). A warm-up of N steps climbs
 * linearly to the base rate first. The rate is a function of the step number and the run's length
 * only, so a resumed run takes exactly the rates it would have taken unbroken.
 */
const SCHEDULE_TABLE = {
  constant: { factor: () => 1, help: 'the base rate throughout' },
  step: {
    factor: (progress: number) => (progress < 0.5 ? 1 : progress < 0.75 ? 0.1 : 0.01),
    help: '×0.1 at half the run and again at three quarters',
  },
  cosine: { factor: (progress: number) => 0.5 * (1 + Math.cos(Math.PI * progress)), help: 'half a cosine down to 0' },
  linear: { factor: (progress: number) => 1 - progress, help: 'a straight line down to 0' },
} as const satisfies Record<string, { factor: (progress: number) => number; help: string }>;

export type ScheduleName = keyof typeof SCHEDULE_TABLE;
export const SCHEDULES = Object.keys(SCHEDULE_TABLE) as ScheduleName[];

export interface Schedule {
  name: ScheduleName;
  /** Steps of linear warm-up before the schedule starts (0: none). */
  warmup: number;
}

/** The learning rate of step `step` (from 0) of a run of `totalSteps` steps at base rate `base`. */
export function learningRateAt(base: number, schedule: Schedule, step: number, totalSteps: number): number {
  if (step < schedule.warmup) return (base * (step + 1)) / schedule.warmup;
  const progress = (step - schedule.warmup) / Math.max(1, totalSteps - schedule.warmup);
  return base * SCHEDULE_TABLE[schedule.name].factor(progress);
}

/** `constant (…), step (…)`: the schedules for the help. */
export function scheduleHelp(): string {
  return SCHEDULES.map((name) => `${name} (${SCHEDULE_TABLE[name].help})`).join(', ');
}
