import { readFileSync } from 'node:fs';
import { freemem, totalmem } from 'node:os';
import { megabytes } from '../memory.js';

const MiB = 1024 * 1024;

/** The process's address-space limit (`ulimit -v`) in bytes, and how much of it is in use; Linux only. */
function addressSpace(): { limit: number; used: number } | undefined {
  try {
    const limits = readFileSync('/proc/self/limits', 'utf8').match(/^Max address space\s+(\S+)/m)?.[1];
    const used = readFileSync('/proc/self/status', 'utf8').match(/^VmSize:\s+(\d+) kB/m)?.[1];
    if (!limits || limits === 'unlimited' || !used) return undefined;
    return { limit: Number(limits), used: Number(used) * 1024 };
  } catch {
    return undefined;
  }
}

/**
 * Bytes this process can expect to allocate: three quarters of the machine's memory (or what is
 * free, if more), and no more than its address-space limit leaves.
 */
export function allocatable(): { bytes: number; why: string } {
  const machine = Math.min(totalmem() * 0.75, Math.max(freemem(), 2 * 1024 * MiB));
  const space = addressSpace();
  const left = space && Math.max(0, space.limit - space.used);
  if (left !== undefined && left < machine)
    return { bytes: left, why: `the process memory limit (ulimit -v) leaves about ${megabytes(left)}` };
  return { bytes: machine, why: `this machine can spare about ${megabytes(machine)}` };
}

/**
 * This process's peak resident memory in MB. Linux's VmHWM belongs to the process image; getrusage's
 * maxrss, used elsewhere, also counts what the parent held when it forked this process (a benchmark
 * holding 2 GB made every child it timed look 2 GB large).
 */
export function peakMemoryMB(): number {
  try {
    const line = readFileSync('/proc/self/status', 'utf8').match(/^VmHWM:\s+(\d+) kB$/m);
    if (line) return Math.round(Number(line[1]) / 1024);
  } catch {
    // Not Linux: getrusage is what there is.
  }
  return Math.round(process.resourceUsage().maxRSS / 1024);
}
