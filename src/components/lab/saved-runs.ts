/**
 * The training lab's saved checkpoints: the list under "Saved runs" (resume or delete each) and
 * the offer to resume the newest unfinished one.
 */
import type { CheckpointMeta } from '../../contracts/train.ts';
import { fmtBytes } from '../lib/model-client.ts';
import { fmt } from '../lib/explain.ts';
import { fmtAgo, fmtWhen } from '../lib/ui.ts';

export interface SavedRunActions {
  resume(key: string): void;
  remove(key: string): void;
}

function button(text: string, label: string, disabled: boolean, onClick: () => void, cls = ''): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  if (cls) b.className = cls;
  b.textContent = text;
  b.setAttribute('aria-label', label);
  b.disabled = disabled;
  b.addEventListener('click', onClick);
  return b;
}

/** Fills the <details data-saved> list; buttons are disabled while a run is active. */
export function renderSavedRuns(root: HTMLElement, saved: CheckpointMeta[], active: boolean, act: SavedRunActions): void {
  const details = root.querySelector<HTMLDetailsElement>('[data-saved]')!;
  const list = root.querySelector('[data-saved-list]')!;
  list.replaceChildren();
  details.hidden = saved.length === 0;
  root.querySelector('[data-saved-count]')!.textContent = String(saved.length);
  for (const c of saved) {
    const li = document.createElement('li');
    const text = document.createElement('span');
    text.textContent = `Step ${c.step.toLocaleString('en-US')} of ${c.totalSteps.toLocaleString('en-US')} · width ${c.width}, batch ${c.batch}, lr ${c.lr} · ${c.data.label} · loss ${fmt(c.lastLoss, 3)} · ${fmtBytes(c.bytes)} · saved ${fmtAgo(c.savedAt)}`;
    text.title = fmtWhen(c.savedAt);
    const buttons = document.createElement('span');
    buttons.className = 'resume-buttons';
    const verb = c.finished ? 'Load' : 'Resume';
    buttons.append(
      button(verb, `${verb} the run saved at step ${c.step}`, active, () => act.resume(c.key)),
      button('Delete', `Delete the checkpoint saved at step ${c.step}`, active, () => act.remove(c.key), 'secondary'),
    );
    li.append(text, buttons);
    list.append(li);
  }
}

/** Offers to resume `newest` (an unfinished run) in the [data-resume-offer] box, or hides the box. */
export function renderResumeOffer(root: HTMLElement, newest: CheckpointMeta | null): void {
  const box = root.querySelector<HTMLElement>('[data-resume-offer]')!;
  if (!newest) {
    box.hidden = true;
    return;
  }
  box.dataset.key = newest.key;
  const strong = document.createElement('strong');
  strong.textContent = `Resume training from step ${newest.step.toLocaleString('en-US')}`;
  const when = document.createElement('span');
  when.textContent = ` (saved ${fmtAgo(newest.savedAt)}; width ${newest.width}, batch ${newest.batch}, ${newest.data.label}, ${newest.step} of ${newest.totalSteps} steps)`;
  when.title = fmtWhen(newest.savedAt);
  root.querySelector('[data-resume-text]')!.replaceChildren(strong, when);
  box.hidden = false;
}
