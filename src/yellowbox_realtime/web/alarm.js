// The SOS alarm: a tone through WebAudio, repeated while any SOS is open, and a browser
// notification for each new SOS, once the user has switched it on. Browsers allow sound and
// ask for notifications only after a click, hence the button; the page says the alarm is
// ringing (body[data-alarm]) whether or not the sound is allowed, so a test can see it.

const REPEAT_MS = 2500;

export class Alarm {
  constructor(button) {
    this.button = button;
    this.audio = null;
    this.timer = null;
    this.notified = new Set();
    button.addEventListener("click", () => this.toggle());
  }

  get enabled() {
    return this.audio !== null;
  }

  async toggle() {
    if (this.enabled) {
      await this.audio.close();
      this.audio = null;
    } else {
      this.audio = new AudioContext();
      await this.audio.resume();
      if ("Notification" in window && Notification.permission === "default") {
        await Notification.requestPermission();
      }
      this.beep();
    }
    this.button.setAttribute("aria-pressed", String(this.enabled));
    this.button.textContent = this.enabled ? "SOS alarm on" : "Enable SOS alarm";
  }

  /** The open SOS alerts now: ring while there are any, notify each new one once. */
  sound(openSos) {
    document.body.dataset.alarm = openSos.length ? "ringing" : "quiet";
    for (const alert of openSos) {
      if (this.notified.has(alert.id)) continue;
      this.notified.add(alert.id);
      if (this.enabled && "Notification" in window && Notification.permission === "granted") {
        new Notification("SOS", {body: alert.message || `SOS from ${alert.riderId}`,
          tag: alert.id, requireInteraction: true});
      }
    }
    if (openSos.length && this.timer === null) {
      this.beep();
      this.timer = setInterval(() => this.beep(), REPEAT_MS);
    } else if (!openSos.length && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  beep() {
    if (!this.audio) return;
    const now = this.audio.currentTime;
    const gain = this.audio.createGain();
    gain.connect(this.audio.destination);
    gain.gain.setValueAtTime(0.0001, now);
    // Two short high-low tones, loud enough to notice, short enough not to be unbearable.
    for (const [start, frequency] of [[0, 880], [0.25, 660]]) {
      const tone = this.audio.createOscillator();
      tone.type = "square";
      tone.frequency.value = frequency;
      tone.connect(gain);
      tone.start(now + start);
      tone.stop(now + start + 0.2);
    }
    gain.gain.exponentialRampToValueAtTime(0.3, now + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, now + 0.45);
  }
}
