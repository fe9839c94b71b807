import type { DoorFeedback } from '../controllers/door-ports.js';

/** The one line a person at the door (or at `identgate sim`) is told. */
export function feedbackText(feedback: DoorFeedback): string {
  switch (feedback.outcome) {
    case 'awaiting-code':
      return `awaiting code (${Math.round(feedback.timeoutMs / 1000)} s)`;
    case 'awaiting-second-person':
      return `awaiting a second person (${Math.round(feedback.timeoutMs / 1000)} s)`;
    case 'granted':
      return `granted: unlocked for ${Math.round(feedback.unlockMs / 1000)} s`;
    case 'denied':
      return `denied: ${feedback.reason.replaceAll('-', ' ')}`;
    case 'ignored':
      return `ignored: ${feedback.why}`;
    case 'door':
      return feedback.state === 'forced' || feedback.state === 'held-open'
        ? `alarm: door ${feedback.state.replace('-', ' ')}`
        : `door ${feedback.state}`;
  }
}
