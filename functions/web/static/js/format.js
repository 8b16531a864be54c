// French formats for money and dates; times in Europe/Paris.

const NBSP = "\u00a0";
const NNBSP = "\u202f";

export function euros(cents) {
  const negative = cents < 0;
  const abs = Math.abs(cents);
  const units = Math.floor(abs / 100).toString().replace(/\B(?=(\d{3})+(?!\d))/g, NNBSP);
  const rest = String(abs % 100).padStart(2, "0");
  return `${negative ? "-" : ""}${units},${rest}${NBSP}€`;
}

export function frDate(isoDate) {
  // "2017-08-01" -> "01/08/2017" (a calendar date: no time zone involved).
  const [y, m, d] = String(isoDate).slice(0, 10).split("-");
  return `${d}/${m}/${y}`;
}

const PARIS = new Intl.DateTimeFormat("fr-FR", {
  timeZone: "Europe/Paris",
  year: "numeric",
  month: "2-digit",
  day: "2-digit",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
  hourCycle: "h23",
});

export function frDateTime(iso) {
  // "2017-07-11T14:28:09Z" -> "11/07/2017 16:28:09"
  const parts = Object.fromEntries(PARIS.formatToParts(new Date(iso)).map((p) => [p.type, p.value]));
  return `${parts.day}/${parts.month}/${parts.year} ${parts.hour}:${parts.minute}:${parts.second}`;
}

function parisToday() {
  const parts = Object.fromEntries(
    new Intl.DateTimeFormat("en-CA", { timeZone: "Europe/Paris", year: "numeric", month: "2-digit", day: "2-digit" })
      .formatToParts(new Date())
      .map((p) => [p.type, p.value]),
  );
  return Date.UTC(Number(parts.year), Number(parts.month) - 1, Number(parts.day));
}

export function dueText(dueOn) {
  if (!dueOn) return "";
  const [y, m, d] = dueOn.split("-").map(Number);
  const days = Math.round((Date.UTC(y, m - 1, d) - parisToday()) / 86400000);
  if (days > 1) return `${days} jours avant échéance`;
  if (days === 1) return "1 jour avant échéance";
  if (days === 0) return "échéance aujourd’hui";
  return `échéance dépassée depuis le ${frDate(dueOn)}`;
}
