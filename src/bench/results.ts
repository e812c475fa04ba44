// The shapes of a benchmark's results: what src/bench/benchmark.ts measures, src/bench/targets.ts
// checks against the targets and src/bench/report.ts prints.

export interface BenchRow {
  backend: string;
  isa: string;
  threads: number;
  /** Hidden layer sizes, e.g. `30` or `256,128`. */
  hidden: string;
  batch: number;
  secondsPerEpoch: number;
  samplesPerSecond: number;
  gflops: number;
  /**
   * The nominal dense work (gflops) over the FMA peak measured with the same ISA and thread count.
   * The native first layer skips MNIST's zero inputs (sparse products, or only the columns a batch
   * uses), so it does less work than counted, and this may pass 100 %.
   */
  percentOfPeak?: number;
  /** ts seconds per epoch over this row's. */
  speedupOverTs?: number;
  /** Batches in each timed repeat; fewer than an epoch's means the epoch time is scaled from a short run. */
  batchesTimed: number;
  fullEpoch: boolean;
  /** Largest relative weight difference from the ts backend after the check run. */
  checkDifference?: number;
}

export interface PeakRow {
  isa: string;
  threads: number;
  gflops: number;
}

/** One optimizer's epoch time against SGD's, timed in turn with it. */
export interface OptimizerRow {
  isa: string;
  threads: number;
  hidden: number;
  batch: number;
  optimizer: string;
  secondsPerEpoch: number;
  /** Over SGD's epoch time in the same rounds. */
  ratio: number;
}

/** `npm start` as a user runs it, and the seed's own script beside it. */
export interface WholeRun {
  wallSeconds: number;
  /** The training time the run itself reports (its epochs, without start, loading and evaluation). */
  trainSeconds: number;
  peakMemoryMB: number;
  seedScriptSeconds?: number;
  /** The peak of a one-epoch run with a hidden layer of 1024. */
  widePeakMemoryMB?: number;
}

/** A speed target against what one run measured for it. */
export interface TargetRow {
  what: string;
  target: string;
  measured: string;
  /** Undefined: not measured in this run, or a figure to state without a target. */
  met?: boolean;
}

export interface BenchReport {
  cpu: string;
  date: string;
  peaks: PeakRow[];
  rows: BenchRow[];
  optimizers: OptimizerRow[];
  wholeRun?: WholeRun;
  /** The speed targets, met or not. */
  targets: TargetRow[];
  notes: string[];
}
