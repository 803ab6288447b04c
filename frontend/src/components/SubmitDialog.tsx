import { type FormEvent, useEffect, useId, useRef, useState } from 'react';
import { runsApi } from '../api.js';
import { DESCRIPTION_MAX, descriptionError, runStateLabel } from '../logic/runs.js';
import type { RunViewJson } from '../runs-types.js';

/**
 * "Submit to enclave": a modal asking for a short description, then the server's answer. The submission
 * is the analysis's home as it is now; reviewers see exactly those files.
 */
export function SubmitDialog({ analysisId, onClose, onSubmitted }: { analysisId: string; onClose: () => void; onSubmitted: (run: RunViewJson) => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [description, setDescription] = useState('');
  const [touched, setTouched] = useState(false);
  const [sending, setSending] = useState(false);
  const [serverError, setServerError] = useState<string | undefined>();
  const [submitted, setSubmitted] = useState<RunViewJson | undefined>();
  const fieldId = useId();
  const hintId = useId();
  const errorId = useId();

  useEffect(() => {
    const element = dialog.current;
    if (element && !element.open) element.showModal();
    return () => element?.close();
  }, []);

  const error = touched ? descriptionError(description) : undefined;
  const length = [...description.trim()].length;

  async function submit(event: FormEvent) {
    event.preventDefault();
    setTouched(true);
    if (descriptionError(description) || sending) return;
    setSending(true);
    setServerError(undefined);
    const result = await runsApi.submit(analysisId, description.trim());
    setSending(false);
    if (result.ok) {
      setSubmitted(result.data);
      onSubmitted(result.data);
    } else setServerError(result.message);
  }

  return (
    <dialog ref={dialog} className="dialog" aria-labelledby={`${fieldId}-title`} onCancel={onClose} data-testid="submit-dialog">
      <h2 id={`${fieldId}-title`}>Submit to enclave</h2>
      {submitted ? (
        <div data-testid="submit-result">
          <p role="status">
            Submitted. Run <code>{submitted.runId}</code> is <strong>{runStateLabel(submitted.state).toLowerCase()}</strong>
            {submitted.state === 'archiving' ? ' (the runs list shows when it is done)' : ''}; a reviewer checks the code before it runs with the real
            data.
          </p>
          <div className="dialog-actions">
            <button type="button" className="button button-primary" onClick={onClose} data-testid="submit-done" autoFocus>
              Close
            </button>
          </div>
        </div>
      ) : (
        <form onSubmit={(event) => void submit(event)} noValidate>
          <p className="muted">
            Your workspace files, as they are now, are sent for review (without <code>.git</code>, caches and the synthetic data). They cannot be
            changed afterwards.
          </p>
          <div className="field">
            <label htmlFor={fieldId}>Description</label>
            <textarea
              id={fieldId}
              value={description}
              rows={3}
              maxLength={DESCRIPTION_MAX + 50}
              onChange={(event) => setDescription(event.target.value)}
              onBlur={() => setTouched(true)}
              aria-invalid={error ? 'true' : undefined}
              aria-describedby={`${hintId}${error ? ` ${errorId}` : ''}`}
              required
              autoFocus
              data-testid="submit-description"
            />
            <span id={hintId} className={`field-hint${length > DESCRIPTION_MAX ? ' field-hint-over' : ''}`}>
              What the run does, for the reviewers. {length}/{DESCRIPTION_MAX}
            </span>
            {error ? (
              <span id={errorId} className="form-error" role="alert">
                {error}
              </span>
            ) : null}
          </div>
          {serverError ? (
            <p className="form-error" role="alert" data-testid="submit-error">
              {serverError}
            </p>
          ) : null}
          <div className="dialog-actions">
            <button type="button" className="button" onClick={onClose} disabled={sending}>
              Cancel
            </button>
            <button type="submit" className="button button-primary" disabled={sending} data-testid="submit-send">
              {sending ? 'Submitting…' : 'Submit'}
            </button>
          </div>
        </form>
      )}
    </dialog>
  );
}
