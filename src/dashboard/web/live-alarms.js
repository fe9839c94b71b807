// The live page's open alarms: the list, acknowledging and resolving them, and the cue (banner,
// tab title, tone) for a new critical one.
import { age, api, el, formatTime, toast } from './lib.js';

export const OPEN_ALARMS = '/api/v1/alarms?state=open&limit=200';

export class OpenAlarms {
  constructor(mayRespond) {
    this.mayRespond = mayRespond;
    this.alarms = new Map();
    this.sound = false;
    this.banner = el('div', {
      className: 'critical-banner',
      id: 'critical-banner',
      role: 'alert',
      hidden: true,
    });
    this.list = el('ul', { id: 'alarms', className: 'alarms' });
    this.soundToggle = el(
      'button',
      { type: 'button', className: 'secondary small', id: 'sound-toggle', 'aria-pressed': 'false' },
      'Sound off',
    );
    this.soundToggle.addEventListener('click', () => {
      this.sound = !this.sound;
      this.soundToggle.textContent = this.sound ? 'Sound on' : 'Sound off';
      this.soundToggle.setAttribute('aria-pressed', String(this.sound));
      if (this.sound) this.audio ??= new AudioContext();
    });
  }

  /** The open alarms as GET /api/v1/alarms lists them. */
  load(alarms) {
    for (const a of alarms) this.alarms.set(a.id, a);
  }

  async reload() {
    try {
      const { alarms } = await api('GET', OPEN_ALARMS);
      this.alarms = new Map(alarms.map((a) => [a.id, a]));
      this.render();
    } catch (error) {
      toast(`Could not reload the alarms: ${error.message}`, 'error');
    }
  }

  onAlarm(alarm) {
    const known = this.alarms.get(alarm.id);
    if (alarm.state === 'resolved') this.alarms.delete(alarm.id);
    else this.alarms.set(alarm.id, alarm);
    if (!known && alarm.state === 'active' && alarm.severity === 'critical') this.cue(alarm);
    this.render();
  }

  /** A new critical alarm: a banner, the tab title, and a tone when sound is on. */
  cue(alarm) {
    this.banner.hidden = false;
    this.banner.textContent = `Critical alarm: ${alarm.alarm.replaceAll('-', ' ')}${alarm.door ? ` at door ${alarm.door}` : ''} (${alarm.site ?? 'central'})`;
    document.title = `(!) ${document.title.replace(/^\(!\) /, '')}`;
    if (this.sound && this.audio) {
      const oscillator = this.audio.createOscillator();
      const gain = this.audio.createGain();
      oscillator.frequency.value = 880;
      gain.gain.value = 0.15;
      oscillator.connect(gain).connect(this.audio.destination);
      oscillator.start();
      oscillator.stop(this.audio.currentTime + 0.6);
    }
  }

  render() {
    const order = { critical: 0, warning: 1, info: 2 };
    const alarms = [...this.alarms.values()].sort(
      (a, b) => order[a.severity] - order[b.severity] || b.raisedAt.localeCompare(a.raisedAt),
    );
    if (!alarms.some((a) => a.state === 'active' && a.severity === 'critical')) this.banner.hidden = true;
    this.list.replaceChildren(
      ...(alarms.length === 0
        ? [el('li', { className: 'none' }, 'No open alarms.')]
        : alarms.map((alarm) => this.item(alarm))),
    );
  }

  item(alarm) {
    const where = [alarm.site, alarm.gateway, alarm.door && `door ${alarm.door}`].filter(Boolean).join(' / ');
    const item = el(
      'li',
      { className: `alarm-item ${alarm.severity} ${alarm.state}`, dataset: { alarm: alarm.id } },
      el('strong', {}, alarm.alarm.replaceAll('-', ' ')),
      el('span', { className: 'severity' }, alarm.severity),
      el('span', {}, where || 'central'),
      el(
        'small',
        { title: alarm.raisedAt },
        `${age(alarm.raisedAt)} ago${alarm.occurrences > 1 ? ` · ${alarm.occurrences}×` : ''}${alarm.clearedAt ? ' · condition cleared' : ''}`,
      ),
      alarm.detail ? el('small', { className: 'detail' }, alarm.detail) : null,
      alarm.state === 'acknowledged'
        ? el(
            'small',
            { className: 'ack' },
            `acknowledged by ${alarm.acknowledgedBy} at ${formatTime(alarm.acknowledgedAt)}: ${alarm.ackComment}`,
          )
        : null,
    );
    if (this.mayRespond && alarm.state === 'active')
      item.append(this.form(alarm, 'acknowledge', 'Acknowledge'));
    if (this.mayRespond && alarm.state === 'acknowledged')
      item.append(this.form(alarm, 'resolve', 'Resolve'));
    return item;
  }

  form(alarm, action, label) {
    const comment = el('input', {
      name: 'comment',
      required: true,
      maxLength: 500,
      placeholder: 'comment (what was done)',
      'aria-label': `${label} comment`,
    });
    const form = el(
      'form',
      { className: 'inline', dataset: { action } },
      comment,
      el('button', { type: 'submit', className: 'small' }, label),
    );
    form.addEventListener('submit', async (event) => {
      event.preventDefault();
      try {
        const updated = await api('POST', `/api/v1/alarms/${alarm.id}/${action}`, { comment: comment.value });
        this.onAlarm(updated);
      } catch (error) {
        toast(error.message, 'error');
      }
    });
    return form;
  }
}
