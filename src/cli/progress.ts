// Progress output: a live bar (epoch, losses, img/s, ETA) on a terminal; plain lines otherwise.
import cliProgress from 'cli-progress';
import type { TrainEvent } from '../engine/results.js';

export interface ProgressPrinter {
  (label: string, e: TrainEvent): void;
  done(): void;
}

const fmtLosses = (l: Record<string, number>) =>
  Object.entries(l)
    .filter(([k]) => k !== 'total')
    .map(([k, v]) => `${k} ${v.toFixed(3)}`)
    .join(' ');

export function progressPrinter(stream: NodeJS.WriteStream = process.stderr): ProgressPrinter {
  const tty = stream.isTTY === true;
  let bar: cliProgress.SingleBar | null = null;
  let epochs = 0;
  const stop = () => {
    bar?.stop();
    bar = null;
  };
  const print = ((label: string, e: TrainEvent) => {
    if (e.type === 'stage') {
      epochs = e.epochs;
      if (!tty) stream.write(`[${label}] stage ${e.stage}: ${e.epochs} epoch(s) x ${e.stepsPerEpoch} steps\n`);
    } else if (e.type === 'warning') {
      stop();
      stream.write(`[${label}] warning: ${e.message}\n`);
    } else if (e.type === 'resume') {
      stream.write(
        e.complete
          ? `[${label}] already complete: its checkpoint is read, nothing trains\n`
          : `[${label}] resuming at stage ${e.stage}, epoch ${e.epoch + 1}\n`,
      );
    } else if (e.type === 'step' && tty) {
      if (!bar) {
        bar = new cliProgress.SingleBar(
          {
            format: `[${label}] ${e.stage} epoch {epoch}/{epochs} |{bar}| {value}/{total} {losses} {ips} img/s ETA {eta}s`,
            hideCursor: true,
            stream,
          },
          cliProgress.Presets.shades_classic,
        );
        bar.start(e.steps, 0, { epoch: e.epoch + 1, epochs, losses: '', ips: 0 });
      }
      bar.update(e.step, { epoch: e.epoch + 1, epochs, losses: fmtLosses(e.losses), ips: e.imgPerSec.toFixed(0) });
    } else if (e.type === 'epoch') {
      stop();
      const r = e.record;
      const acc = r.top1 === null ? '' : ` top-1 ${r.top1.toFixed(2)} top-5 ${r.top5!.toFixed(2)}`;
      const metrics = r.metrics
        ? ' ' +
          Object.entries(r.metrics)
            .map(([k, v]) => `${k} ${v.toFixed(4)}`)
            .join(' ')
        : '';
      stream.write(
        `[${label}] ${r.stage} epoch ${r.epoch}: ${fmtLosses(r.losses)}${acc}${metrics} (${r.imgPerSec.toFixed(0)} img/s, ${r.seconds.toFixed(1)} s)\n`,
      );
    }
  }) as ProgressPrinter;
  print.done = stop;
  return print;
}
