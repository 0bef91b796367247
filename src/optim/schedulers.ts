// Learning-rate schedules by epoch, as torch.optim.lr_scheduler (applied to every group's base lr).
import type { Optimizer } from './optimizer.js';

export interface Schedule {
  /** Multiplier of the base learning rate at `epoch` (0-based). */
  factor(epoch: number): number;
}

/** ×gamma at each milestone (mdistiller's 150/180/210 on CIFAR). */
export function multiStep(milestones: number[], gamma = 0.1): Schedule {
  return { factor: (epoch) => gamma ** milestones.filter((m) => epoch >= m).length };
}

/** Cosine annealing from 1 to etaMinFactor over totalEpochs. */
export function cosine(totalEpochs: number, etaMinFactor = 0): Schedule {
  return {
    factor: (epoch) =>
      etaMinFactor + ((1 - etaMinFactor) * (1 + Math.cos((Math.PI * Math.min(epoch, totalEpochs)) / totalEpochs))) / 2,
  };
}

/** Linear warm-up over the first warmupEpochs, then `after`. */
export function linearWarmup(warmupEpochs: number, after: Schedule, startFactor = 0.1): Schedule {
  return {
    factor: (epoch) => (epoch < warmupEpochs ? startFactor + ((1 - startFactor) * epoch) / warmupEpochs : after.factor(epoch)),
  };
}

export const constant = (): Schedule => ({ factor: () => 1 });

/**
 * Binds a schedule to an optimizer: setEpoch(e) sets each group's lr to base lr × factor(e). As in
 * PyTorch, the base lr is each group's `initialLr` (`initial_lr` in the state dict), set from its
 * lr the first time: a scheduler made after loading a checkpoint mid-schedule starts from the
 * original lr, not from the decayed lr the checkpoint ended with.
 */
export class LRScheduler {
  private readonly baseLrs: number[];
  epoch = 0;

  constructor(
    private readonly optimizer: Optimizer<{ lr: number }>,
    private readonly schedule: Schedule,
  ) {
    this.baseLrs = optimizer.paramGroups.map((g) => {
      const options = g.options as { lr: number; initialLr?: number };
      options.initialLr ??= options.lr;
      return options.initialLr;
    });
    this.setEpoch(0);
  }
  setEpoch(epoch: number): void {
    this.epoch = epoch;
    const f = this.schedule.factor(epoch);
    this.optimizer.setLr((i) => this.baseLrs[i]! * f);
  }
  stateDict(): { epoch: number; base_lrs: number[] } {
    return { epoch: this.epoch, base_lrs: this.baseLrs.slice() };
  }
  loadStateDict(sd: { epoch: number; base_lrs?: number[] }): void {
    if (sd.base_lrs) sd.base_lrs.forEach((lr, i) => (this.baseLrs[i] = lr));
    this.setEpoch(sd.epoch);
  }
}
