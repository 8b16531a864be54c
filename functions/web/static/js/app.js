// The parents' portal: screens over the JSON API (same origin, session cookie).

import { api, ApiError, explain, hooks } from "./api.js";
import { $, announce, h, hiddenText, setError } from "./dom.js";
import { dueText, euros, frDate, frDateTime } from "./format.js";
import { sessionActivity, startSessionWatch, stopSessionWatch } from "./session.js";

const state = {
  me: null,
  current: [],
  paid: [],
  paidCursor: null,
  hidden: [],
  selected: new Map(), // invoice id -> invoice
  expiredNotice: false,
};

const LOGGED_OUT = { connexion: "screen-login", "creer-un-compte": "screen-signup", "mot-de-passe-oublie": "screen-forgot" };
const PANELS = ["actualites", "reservations", "factures", "paiements", "compte"];
const TITLES = {
  "screen-login": "Connexion",
  "screen-signup": "Créer un compte",
  "screen-forgot": "Mot de passe oublié",
  "screen-confirm": "Confirmer mon compte",
  "screen-reset": "Nouveau mot de passe",
  actualites: "Actualités",
  reservations: "Mes réservations",
  factures: "Factures en cours",
  "factures-payees": "Factures payées",
  paiements: "Mes paiements",
  compte: "Mon compte",
  recap: "Récapitulatif de votre paiement",
};

const STATUS_LABELS = {
  pending: "En attente de confirmation",
  paid: "Payé",
  refused: "Refusé",
  cancelled: "Abandonné",
  expired: "Expiré",
  error: "Erreur technique",
  anomaly: "En cours de vérification par la trésorerie",
};
const STATUS_MESSAGES = {
  pending: "Votre paiement est en attente de confirmation par le site de paiement. Cette page se met à jour toute seule.",
  paid: "Votre paiement a bien été effectué. Merci ! Un justificatif est envoyé à votre adresse e-mail.",
  refused: "Votre paiement a été refusé : rien n’a été débité. Vos factures restent à payer.",
  cancelled: "Vous avez abandonné le paiement : rien n’a été débité. Vos factures restent à payer.",
  expired: "Le paiement n’a pas été terminé à temps : rien n’a été débité. Vos factures restent à payer.",
  error: "Le paiement n’a pas pu aboutir à cause d’une erreur technique. Vos factures restent à payer.",
  anomaly:
    "Votre paiement est en cours de vérification par la trésorerie. Ne payez pas de nouveau ces factures : la trésorerie vous contactera si nécessaire.",
};
const NOT_PAYABLE = {
  payment_in_progress: "Un paiement de cette facture est en cours : attendez son résultat (20 minutes au plus).",
  being_checked: "Un paiement de cette facture est en cours de vérification par la trésorerie : ne la payez pas de nouveau.",
  regie_not_payable_online: "Cette régie ne propose pas le paiement en ligne : payez cette facture auprès de votre collectivité.",
  paid: "Cette facture est déjà payée.",
  cancelled: "Cette facture est annulée.",
};

function notPayableText(reason) {
  if (!reason) return "Cette facture ne peut pas être payée en ligne.";
  if (NOT_PAYABLE[reason]) return NOT_PAYABLE[reason];
  // The API may already give a sentence; a bare code we do not know gets the general one.
  return /\s/.test(reason) ? reason : "Cette facture ne peut pas être payée en ligne.";
}

// -- screens ----------------------------------------------------------------------------------------------

function showOnly(screenId) {
  $("loading").hidden = true;
  for (const id of ["screen-login", "screen-signup", "screen-forgot", "screen-confirm", "screen-reset", "screen-app"]) {
    $(id).hidden = id !== screenId;
  }
  $("account-nav").hidden = !state.me;
}

function focusTitle(el, title) {
  document.title = `${title} – Espace Famille`;
  const heading = el.querySelector("h1");
  if (heading) heading.focus();
}

function showLoggedOut(name) {
  const id = LOGGED_OUT[name] || "screen-login";
  showOnly(id);
  focusTitle($(id), TITLES[id]);
}

function showPanel(name) {
  showOnly("screen-app");
  const panel = name === "factures-payees" ? "factures" : name;
  for (const p of [...PANELS, "recap"]) $(`panel-${p}`).hidden = p !== panel;
  for (const link of document.querySelectorAll(".tabs a")) {
    if (link.dataset.tab === panel) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  focusTitle($(`panel-${panel}`), TITLES[name] || TITLES[panel]);
  if (panel === "actualites") loadNews();
  if (panel === "factures") showInvoices(name === "factures-payees" ? "paid" : "current");
  if (panel === "paiements") loadPayments();
  if (panel === "compte") showAccount();
}

async function route() {
  const path = location.pathname;
  const hash = location.hash.replace(/^#/, "");
  if (path === "/compte/confirmer") {
    showOnly("screen-confirm");
    focusTitle($("screen-confirm"), TITLES["screen-confirm"]);
    return;
  }
  if (path === "/mot-de-passe/nouveau") {
    showOnly("screen-reset");
    focusTitle($("screen-reset"), TITLES["screen-reset"]);
    return;
  }
  if (!state.me) {
    showLoggedOut(hash);
    return;
  }
  if (path === "/paiement/retour") {
    showOnly("screen-app");
    for (const p of PANELS) $(`panel-${p}`).hidden = true;
    $("panel-recap").hidden = false;
    for (const link of document.querySelectorAll(".tabs a")) link.removeAttribute("aria-current");
    focusTitle($("panel-recap"), TITLES.recap);
    showRecap(new URLSearchParams(location.search).get("payment"));
    return;
  }
  showPanel(PANELS.includes(hash) || hash === "factures-payees" ? hash : "actualites");
}

// -- session ------------------------------------------------------------------------------------------------

async function loadMe() {
  try {
    state.me = await api("GET", "/api/me");
  } catch (error) {
    if (!(error instanceof ApiError) || error.code !== "session_expired") throw error;
    state.me = null;
  }
  $("who").textContent = state.me ? state.me.account.display_name : "";
  return state.me;
}

function expired() {
  if (!state.me) return;
  signedOut("Votre session a expiré. Connectez-vous pour reprendre là où vous en étiez.", true);
}

function signedOut(notice, keepPlace) {
  state.me = null;
  state.selected.clear();
  stopSessionWatch();
  for (const dialog of document.querySelectorAll("dialog[open]")) dialog.close();
  $("login-notice").textContent = notice || "";
  if (!keepPlace) history.replaceState(null, "", "/#connexion");
  // Keeps the page the parent was on (path and tab): logging in again brings them back to it.
  showOnly("screen-login");
  focusTitle($("screen-login"), TITLES["screen-login"]);
}

async function logOut(expiredNow) {
  try {
    await api("DELETE", "/api/session");
  } catch {
    // The cookie is cleared by the server's answer; a failure to reach it still leaves the page signed out.
  }
  if (expiredNow) signedOut("Votre session a expiré. Connectez-vous pour reprendre là où vous en étiez.", true);
  else signedOut("Vous êtes déconnecté.", false);
}

// -- forms of the logged-out screens -------------------------------------------------------------------------

function formValue(id) {
  return $(id).value;
}

function onSubmit(formId, errorId, run) {
  $(formId).addEventListener("submit", async (event) => {
    event.preventDefault();
    setError(errorId, "");
    const button = $(formId).querySelector("button[type=submit]");
    button.disabled = true;
    try {
      await run();
    } catch (error) {
      if (!(error instanceof ApiError) || error.code !== "session_expired") setError(errorId, explain(error));
    } finally {
      button.disabled = false;
    }
  });
}

function tokenFromUrl() {
  return new URLSearchParams(location.search).get("token") || "";
}

function passwordsMatch(a, b, errorId) {
  if ($(a).value !== $(b).value) {
    setError(errorId, "Les deux mots de passe ne sont pas identiques.");
    $(b).focus();
    return false;
  }
  return true;
}

function required(errorId, fields) {
  for (const [id, label] of fields) {
    if (!$(id).value.trim()) {
      setError(errorId, `Le champ «\u00a0${label}\u00a0» est obligatoire.`);
      $(id).setAttribute("aria-invalid", "true");
      $(id).focus();
      return false;
    }
    $(id).removeAttribute("aria-invalid");
  }
  return true;
}

function wireLoggedOutForms() {
  onSubmit("login-form", "login-error", async () => {
    if (!required("login-error", [["login-email", "Identifiant"], ["login-password", "Mot de passe"]])) return;
    await api("POST", "/api/session", { email: formValue("login-email").trim(), password: formValue("login-password") });
    $("login-password").value = "";
    $("login-notice").textContent = "";
    await loadMe();
    sessionActivity();
    // Back where the parent was (a tab, the recap); from the login screen itself, to the news.
    const onLoginScreen = location.hash === "" || LOGGED_OUT[location.hash.slice(1)];
    if (location.pathname === "/" && onLoginScreen) history.replaceState(null, "", "/#actualites");
    await route();
  });

  onSubmit("signup-form", "signup-error", async () => {
    if (!required("signup-error", [["signup-email", "Adresse e-mail"]])) return;
    await api("POST", "/api/accounts", { email: formValue("signup-email").trim() });
    $("signup-done").textContent =
      "C’est noté. Un e-mail vient de vous être envoyé : suivez son lien pour confirmer votre compte et choisir votre mot de passe.";
  });

  onSubmit("forgot-form", "forgot-error", async () => {
    if (!required("forgot-error", [["forgot-email", "Adresse e-mail"]])) return;
    await api("POST", "/api/password-resets", { email: formValue("forgot-email").trim() });
    $("forgot-done").textContent =
      "Si un compte existe pour cette adresse, un e-mail vient de lui être envoyé avec un lien pour choisir un nouveau mot de passe.";
  });

  onSubmit("confirm-form", "confirm-error", async () => {
    if (!required("confirm-error", [["confirm-name", "Votre nom"], ["confirm-password", "Mot de passe"]])) return;
    if (!passwordsMatch("confirm-password", "confirm-password2", "confirm-error")) return;
    await api("POST", "/api/accounts/confirm", {
      token: tokenFromUrl(),
      password: formValue("confirm-password"),
      display_name: formValue("confirm-name").trim(),
    });
    history.replaceState(null, "", "/#actualites");
    await loadMe();
    sessionActivity();
    announce("Votre compte est confirmé. Bienvenue sur votre espace famille.");
    await route();
  });

  onSubmit("reset-form", "reset-error", async () => {
    if (!required("reset-error", [["reset-password", "Nouveau mot de passe"]])) return;
    if (!passwordsMatch("reset-password", "reset-password2", "reset-error")) return;
    await api("POST", "/api/password-resets/confirm", { token: tokenFromUrl(), password: formValue("reset-password") });
    history.replaceState(null, "", "/#connexion");
    state.me = null;
    signedOut("Votre mot de passe a été changé. Connectez-vous avec votre nouveau mot de passe.", true);
  });
}

// -- Actualités -----------------------------------------------------------------------------------------------

async function loadNews() {
  const list = $("news-list");
  try {
    const { news } = await api("GET", "/api/news");
    list.replaceChildren(
      ...(news.length
        ? news.map((item) =>
            h(
              "li",
              {},
              h(
                "article",
                {},
                h("h2", {}, `${item.title} - `, h("time", { datetime: item.published_on }, frDate(item.published_on))),
                h("p", { class: "category" }, h("strong", {}, item.category), ` · ${item.collectivite_name}`),
                h("p", {}, item.body),
              ),
            ),
          )
        : [h("li", {}, "Aucune actualité pour le moment.")]),
    );
  } catch (error) {
    list.replaceChildren(h("li", { class: "error" }, explain(error)));
  }
}

// -- Mes factures --------------------------------------------------------------------------------------------

function regieKey(inv) {
  return `${inv.collectivite_id}/${inv.regie_id}`;
}

function groupByRegie(invoices) {
  const groups = new Map();
  for (const inv of invoices) {
    const key = regieKey(inv);
    if (!groups.has(key)) groups.set(key, { title: `${inv.collectivite_name} - ${inv.regie_name}`, invoices: [] });
    groups.get(key).invoices.push(inv);
  }
  return [...groups.values()];
}

function description(inv) {
  if (inv.status === "paid") {
    const when = inv.paid_at ? ` payée le ${frDateTime(inv.paid_at)}` : " payée";
    return `Facture du ${frDate(inv.issued_on)} pour ${inv.debtor_name}${when} (ref: ${inv.reference})`;
  }
  return `Facture du ${frDate(inv.issued_on)} pour ${inv.debtor_name} - ${dueText(inv.due_on)} - (ref: ${inv.reference})`;
}

function invoiceTable(group, kind) {
  const selectable = kind === "current";
  const head = h(
    "tr",
    {},
    selectable ? h("th", { scope: "col" }, h("span", { class: "visually-hidden" }, "Sélection")) : null,
    h("th", { scope: "col" }, "Date"),
    h("th", { scope: "col" }, "Description"),
    h("th", { scope: "col", class: "num" }, "Montant"),
    h("th", { scope: "col" }, "Action"),
  );
  const rows = group.invoices.map((inv) => {
    const ref = inv.reference;
    let selectCell = null;
    let reason = null;
    if (selectable) {
      const reasonId = `reason-${inv.id}`;
      const box = h("input", {
        type: "checkbox",
        id: `select-${inv.id}`,
        "data-invoice": inv.id,
        disabled: !inv.payable,
        checked: state.selected.has(inv.id),
        "aria-describedby": inv.payable ? null : reasonId,
        onchange: (event) => toggleSelection(inv, event.target),
      });
      selectCell = h(
        "td",
        { class: "select" },
        box,
        h("label", { for: `select-${inv.id}`, class: "visually-hidden" }, `Sélectionner la facture ${ref} (${euros(inv.amount_cents)})`),
      );
      if (!inv.payable) reason = h("p", { class: "reason", id: reasonId }, notPayableText(inv.not_payable_reason));
      else reason = h("p", { class: "error", role: "alert", id: `conflict-${inv.id}` });
    }
    const actions = h(
      "td",
      { class: "actions-cell", "data-label": "Action" },
      h("button", { type: "button", class: "small", onclick: () => showDetail(inv.id) }, "Détail", hiddenText(` de la facture ${ref}`)),
      kind === "hidden"
        ? h("button", { type: "button", class: "small", onclick: () => setHidden(inv, false) }, "Afficher", hiddenText(` la facture ${ref}`))
        : h("button", { type: "button", class: "small", onclick: () => setHidden(inv, true) }, "Masquer", hiddenText(` la facture ${ref}`)),
    );
    return h(
      "tr",
      { "data-reference": ref },
      selectCell,
      h("td", { "data-label": "Date" }, frDate(inv.issued_on)),
      h("td", { "data-label": "Description" }, description(inv), reason),
      h("td", { class: "num", "data-label": "Montant" }, euros(inv.amount_cents)),
      actions,
    );
  });
  return h(
    "section",
    { class: "regie-group" },
    h("h3", {}, group.title),
    h("table", { class: "invoices" }, h("thead", {}, head), h("tbody", {}, rows)),
  );
}

function renderGroups(containerId, invoices, kind, emptyText) {
  const groups = groupByRegie(invoices);
  $(containerId).replaceChildren(...(groups.length ? groups.map((g) => invoiceTable(g, kind)) : [h("p", { class: "empty" }, emptyText)]));
}

function updateAmount() {
  let total = 0;
  for (const inv of state.selected.values()) total += inv.amount_cents;
  $("amount-due").textContent = euros(total);
}

function toggleSelection(inv, box) {
  setError("selection-error", "");
  setError("pay-error", "");
  for (const el of document.querySelectorAll("[id^='conflict-']")) el.textContent = "";
  if (box.checked) {
    const other = [...state.selected.values()].find((s) => regieKey(s) !== regieKey(inv));
    if (other) {
      box.checked = false;
      // Said next to the invoice that could not be ticked.
      setError(
        `conflict-${inv.id}`,
        `Un paiement ne concerne qu’une seule régie : vous avez coché une facture de «\u00a0${other.regie_name}\u00a0». ` +
          `Payez-la d’abord, ou décochez-la pour payer celles de «\u00a0${inv.regie_name}\u00a0».`,
      );
      return;
    }
    state.selected.set(inv.id, inv);
  } else {
    state.selected.delete(inv.id);
  }
  updateAmount();
}

async function loadCurrent() {
  try {
    const data = await api("GET", "/api/invoices?view=current");
    state.current = data.invoices;
  } catch (error) {
    $("current-groups").replaceChildren(h("p", { class: "error" }, explain(error)));
    return;
  }
  // A selection keeps only what is still payable.
  const fresh = new Map(state.current.filter((i) => i.payable).map((i) => [i.id, i]));
  for (const id of [...state.selected.keys()]) {
    if (fresh.has(id)) state.selected.set(id, fresh.get(id));
    else state.selected.delete(id);
  }
  renderGroups("current-groups", state.current, "current", "Vous n’avez aucune facture en cours.");
  updateAmount();
}

async function loadPaid(more) {
  try {
    const shown = more ? [...state.paid] : [];
    const before = shown.length;
    let cursor = more ? state.paidCursor : null;
    let pages = 0;
    do {
      const query = cursor ? `&cursor=${encodeURIComponent(cursor)}` : "";
      const data = await api("GET", `/api/invoices?view=paid${query}`);
      shown.push(...data.invoices);
      cursor = data.next_cursor || null;
      pages += 1;
      // A page may hold only invoices the parent hid: read on (a few pages at most) instead of showing
      // "no paid invoice" above a "more" button.
    } while (cursor && shown.length === before && pages < 5);
    state.paid = shown;
    state.paidCursor = cursor;
  } catch (error) {
    $("paid-groups").replaceChildren(h("p", { class: "error" }, explain(error)));
    return;
  }
  renderGroups("paid-groups", state.paid, "paid", "Vous n’avez aucune facture payée.");
  $("paid-more").hidden = !state.paidCursor;
}

async function loadHidden() {
  try {
    const data = await api("GET", "/api/invoices?view=hidden");
    state.hidden = data.invoices;
  } catch (error) {
    $("hidden-groups").replaceChildren(h("p", { class: "error" }, explain(error)));
    return;
  }
  renderGroups("hidden-groups", state.hidden, "hidden", "Vous n’avez masqué aucune facture.");
}

async function showInvoices(which) {
  $("invoices-current").hidden = which !== "current";
  $("invoices-paid").hidden = which !== "paid";
  for (const link of document.querySelectorAll(".subtabs a")) {
    if (link.dataset.subtab === which) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  if (which === "current") {
    if (!$("pay-email").value && state.me) $("pay-email").value = state.me.account.email;
    await Promise.all([loadCurrent(), $("show-hidden").checked ? loadHidden() : null]);
  } else {
    await loadPaid(false);
  }
}

async function setHidden(inv, hide) {
  try {
    await api(hide ? "PUT" : "DELETE", `/api/invoices/${encodeURIComponent(inv.id)}/hidden`);
  } catch (error) {
    announce(explain(error));
    return;
  }
  state.selected.delete(inv.id);
  announce(hide ? `La facture ${inv.reference} est masquée.` : `La facture ${inv.reference} est de nouveau affichée.`);
  const paidView = !$("invoices-paid").hidden;
  await Promise.all([paidView ? loadPaid(false) : loadCurrent(), $("show-hidden").checked ? loadHidden() : null]);
  $("invoices-title").focus();
}

async function showDetail(id) {
  const body = $("detail-body");
  body.replaceChildren(h("p", {}, "Chargement…"));
  $("detail-dialog").showModal();
  try {
    const inv = await api("GET", `/api/invoices/${encodeURIComponent(id)}`);
    $("detail-title").textContent = `Détail de la facture ${inv.reference}`;
    body.replaceChildren(
      h(
        "dl",
        { class: "facts" },
        h("dt", {}, "Régie"),
        h("dd", {}, `${inv.collectivite_name} - ${inv.regie_name}`),
        h("dt", {}, "Pour"),
        h("dd", {}, inv.debtor_name),
        h("dt", {}, "Date de la facture"),
        h("dd", {}, frDate(inv.issued_on)),
        h("dt", {}, "Échéance"),
        h("dd", {}, inv.due_on ? frDate(inv.due_on) : "—"),
        inv.status === "paid" ? [h("dt", {}, "Payée le"), h("dd", {}, inv.paid_at ? frDateTime(inv.paid_at) : "—")] : null,
      ),
      h(
        "table",
        { class: "lines" },
        h("caption", {}, "Lignes de la facture"),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "Libellé"),
            h("th", { scope: "col", class: "num" }, "Quantité"),
            h("th", { scope: "col", class: "num" }, "Prix unitaire"),
            h("th", { scope: "col", class: "num" }, "Montant"),
          ),
        ),
        h(
          "tbody",
          {},
          (inv.lines || []).map((line) =>
            h(
              "tr",
              {},
              h("td", {}, line.label),
              h("td", { class: "num" }, String(line.quantity).replace(".", ",")),
              h("td", { class: "num" }, euros(line.unit_price_cents)),
              h("td", { class: "num" }, euros(line.amount_cents)),
            ),
          ),
        ),
        h("tfoot", {}, h("tr", {}, h("th", { scope: "row", colspan: "3" }, "Total"), h("td", { class: "num" }, euros(inv.amount_cents)))),
      ),
    );
  } catch (error) {
    body.replaceChildren(h("p", { class: "error", role: "alert" }, explain(error)));
  }
}

function wireInvoices() {
  $("detail-close").addEventListener("click", () => $("detail-dialog").close());
  $("paid-more").addEventListener("click", () => loadPaid(true));
  $("show-hidden").addEventListener("change", async (event) => {
    $("hidden-block").hidden = !event.target.checked;
    if (event.target.checked) await loadHidden();
  });

  $("open-claim").addEventListener("click", () => {
    setError("claim-error", "");
    $("claim-dialog").showModal();
    $("claim-collectivite").focus();
  });
  $("claim-close").addEventListener("click", () => $("claim-dialog").close());
  onSubmit("claim-form", "claim-error", async () => {
    const fields = [
      ["claim-collectivite", "Identifiant de la collectivité"],
      ["claim-reference", "Référence de la facture"],
      ["claim-key", "Clé"],
    ];
    if (!required("claim-error", fields)) return;
    let result;
    try {
      result = await api("POST", "/api/claims", {
        collectivite_id: formValue("claim-collectivite"),
        reference: formValue("claim-reference"),
        key: formValue("claim-key"),
      });
    } catch (error) {
      if (error instanceof ApiError && error.code === "invoice_not_found") {
        throw new ApiError(404, error.code, "Aucune facture ne correspond à ces informations. Vérifiez l’identifiant de la collectivité, la référence et la clé imprimés sur votre facture.");
      }
      throw error;
    }
    $("claim-dialog").close();
    for (const [id] of fields) $(id).value = "";
    const regie = result && result.regie ? result.regie.regie_name || result.regie.name || "" : "";
    const n = result ? result.invoices_found : 0;
    announce(`Facture trouvée : ${n} facture${n > 1 ? "s" : ""}${regie ? ` de «\u00a0${regie}\u00a0»` : ""} ajoutée${n > 1 ? "s" : ""} à votre compte.`);
    await loadMe();
    if (location.hash === "#factures-payees") await loadPaid(false);
    else await loadCurrent();
  });

  $("pay-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    setError("pay-error", "");
    setError("selection-error", "");
    const ids = [...state.selected.keys()];
    if (!ids.length) {
      setError("selection-error", "Cochez au moins une facture à payer.");
      return;
    }
    if (!$("pay-email").value.trim()) {
      setError("pay-error", "Indiquez l’adresse e-mail où recevoir le justificatif de paiement.");
      $("pay-email").focus();
      return;
    }
    $("pay-button").disabled = true;
    try {
      const payment = await api("POST", "/api/payments", { invoice_ids: ids, email: $("pay-email").value.trim() });
      announce("Vous allez être dirigé vers le site de paiement.");
      location.assign(payment.redirect_url);
    } catch (error) {
      $("pay-button").disabled = false;
      if (error instanceof ApiError && error.code === "session_expired") return;
      setError("pay-error", explain(error));
      if (error instanceof ApiError && error.status !== 503) await loadCurrent();
    }
  });
}

// -- Mes paiements and the recap ------------------------------------------------------------------------------

function regieName(payment) {
  if (payment.regie_name) return payment.regie_name;
  const found = (state.me?.regies || []).find((r) => r.regie_id === payment.regie_id);
  return found ? `${found.collectivite_name} - ${found.regie_name}` : payment.regie_id;
}

function invoiceLabel(entry) {
  if (typeof entry === "string") {
    const known = [...state.current, ...state.paid, ...state.hidden].find((i) => i.id === entry);
    return known ? `ref: ${known.reference} – ${euros(known.amount_cents)}` : entry;
  }
  const ref = entry.reference || entry.id;
  return entry.amount_cents !== undefined ? `ref: ${ref} – ${euros(entry.amount_cents)}` : `ref: ${ref}`;
}

async function loadPayments() {
  const box = $("payments-list");
  try {
    const { payments } = await api("GET", "/api/payments");
    if (!payments.length) {
      box.replaceChildren(h("p", { class: "empty" }, "Vous n’avez encore fait aucun paiement en ligne."));
      return;
    }
    box.replaceChildren(
      h(
        "table",
        { class: "invoices" },
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            h("th", { scope: "col" }, "Date"),
            h("th", { scope: "col" }, "Régie"),
            h("th", { scope: "col", class: "num" }, "Montant"),
            h("th", { scope: "col" }, "Statut"),
            h("th", { scope: "col" }, "Action"),
          ),
        ),
        h(
          "tbody",
          {},
          payments.map((p) =>
            h(
              "tr",
              {},
              h("td", { "data-label": "Date" }, frDateTime(p.created_at)),
              h("td", { "data-label": "Régie" }, regieName(p)),
              h("td", { class: "num", "data-label": "Montant" }, euros(p.amount_cents)),
              h("td", { "data-label": "Statut" }, STATUS_LABELS[p.status] || p.status),
              h(
                "td",
                { "data-label": "Action" },
                h("a", { href: `/paiement/retour?payment=${encodeURIComponent(p.payment_id)}` }, "Récapitulatif", hiddenText(` du paiement du ${frDateTime(p.created_at)}`)),
              ),
            ),
          ),
        ),
      ),
    );
  } catch (error) {
    box.replaceChildren(h("p", { class: "error" }, explain(error)));
  }
}

let recapTimer = null;

async function showRecap(paymentId) {
  clearTimeout(recapTimer);
  const status = $("recap-status");
  const recap = $("recap");
  if (!paymentId) {
    status.className = "status-box error";
    status.textContent = "Ce lien ne désigne aucun paiement.";
    recap.replaceChildren();
    return;
  }
  let payment;
  try {
    payment = await api("GET", `/api/payments/${encodeURIComponent(paymentId)}`);
  } catch (error) {
    if (error instanceof ApiError && error.code === "session_expired") return;
    status.className = "status-box error";
    status.textContent = error instanceof ApiError && error.status === 404 ? "Ce paiement est introuvable." : explain(error);
    return;
  }
  const message = STATUS_MESSAGES[payment.status] || `Statut : ${payment.status}`;
  if (status.textContent !== message) status.textContent = message;
  status.className = `status-box status-${payment.status}`;
  $("panel-recap").setAttribute("aria-busy", payment.status === "pending" ? "true" : "false");
  const facts = [
    h("dt", {}, "Régie"),
    h("dd", {}, regieName(payment)),
    payment.reference ? [h("dt", {}, "Référence du paiement"), h("dd", {}, payment.reference)] : null,
    h("dt", {}, "Factures"),
    h("dd", {}, h("ul", {}, (payment.invoices || []).map((inv) => h("li", {}, invoiceLabel(inv))))),
    h("dt", {}, "Montant"),
    h("dd", {}, euros(payment.amount_cents)),
    h("dt", {}, "Date"),
    h("dd", {}, frDateTime(payment.paid_at || payment.created_at)),
    h("dt", {}, "Statut"),
    h("dd", { id: "recap-status-label" }, STATUS_LABELS[payment.status] || payment.status),
  ];
  recap.replaceChildren(...facts.flat().filter(Boolean));
  if (payment.status === "pending" && location.pathname === "/paiement/retour") {
    recapTimer = setTimeout(() => showRecap(paymentId), 2000);
  }
}

// -- Mon compte -------------------------------------------------------------------------------------------------

function showAccount() {
  const me = state.me;
  $("account-name").textContent = me.account.display_name;
  $("account-email").textContent = me.account.email;
  $("regies-list").replaceChildren(
    ...(me.regies.length
      ? me.regies.map((r) =>
          h(
            "li",
            {},
            h("span", {}, `${r.collectivite_name} - ${r.regie_name} (${r.debtor_name})`),
            h(
              "button",
              { type: "button", class: "small", onclick: () => unlink(r) },
              "Retirer",
              hiddenText(` la régie ${r.regie_name} de mon compte`),
            ),
          ),
        )
      : [h("li", {}, "Aucune régie : utilisez «\u00a0Je ne trouve pas ma facture\u00a0» dans Mes factures.")]),
  );
}

function confirmDialog(text, yesLabel) {
  return new Promise((resolve) => {
    const dialog = $("confirm-dialog");
    $("confirm-dialog-text").textContent = text;
    $("confirm-dialog-yes").textContent = yesLabel;
    const done = (value) => {
      $("confirm-dialog-yes").onclick = null;
      $("confirm-dialog-no").onclick = null;
      dialog.onclose = null;
      if (dialog.open) dialog.close();
      resolve(value);
    };
    $("confirm-dialog-yes").onclick = () => done(true);
    $("confirm-dialog-no").onclick = () => done(false);
    dialog.onclose = () => done(false);
    dialog.showModal();
    $("confirm-dialog-no").focus();
  });
}

async function unlink(regie) {
  setError("regies-error", "");
  const ok = await confirmDialog(
    `Retirer la régie «\u00a0${regie.regie_name}\u00a0» de votre compte ? Ses factures n’y apparaîtront plus.`,
    "Retirer la régie",
  );
  if (!ok) return;
  try {
    await api("DELETE", `/api/me/regies/${encodeURIComponent(regie.link_id)}`);
  } catch (error) {
    setError("regies-error", explain(error));
    return;
  }
  await loadMe();
  showAccount();
  announce(`La régie «\u00a0${regie.regie_name}\u00a0» est retirée de votre compte.`);
  $("account-title").focus();
}

function wireAccount() {
  onSubmit("password-form", "password-error", async () => {
    $("password-done").textContent = "";
    if (!required("password-error", [["pw-current", "Mot de passe actuel"], ["pw-new", "Nouveau mot de passe"]])) return;
    if (!passwordsMatch("pw-new", "pw-new2", "password-error")) return;
    await api("POST", "/api/me/password", { current_password: $("pw-current").value, new_password: $("pw-new").value });
    for (const id of ["pw-current", "pw-new", "pw-new2"]) $(id).value = "";
    $("password-done").textContent = "Votre mot de passe a été changé.";
  });

  $("export-button").addEventListener("click", async () => {
    setError("export-error", "");
    try {
      const data = await api("GET", "/api/me/export");
      const blob = new Blob([JSON.stringify(data, null, 2)], { type: "application/json" });
      const url = URL.createObjectURL(blob);
      const link = h("a", { href: url, download: "espace-famille-mes-donnees.json", hidden: true });
      document.body.append(link);
      link.click();
      link.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
      announce("Vos données sont téléchargées.");
    } catch (error) {
      setError("export-error", explain(error));
    }
  });

  onSubmit("delete-form", "delete-error", async () => {
    if (!required("delete-error", [["delete-password", "Mot de passe"]])) return;
    const ok = await confirmDialog("Supprimer définitivement votre compte ? Cette action ne peut pas être annulée.", "Supprimer mon compte");
    if (!ok) return;
    await api("DELETE", "/api/me", { password: $("delete-password").value });
    $("delete-password").value = "";
    await logOut(false);
    $("login-notice").textContent = "Votre compte a été supprimé.";
  });
}

// -- start ------------------------------------------------------------------------------------------------------

async function start() {
  hooks.onExpired = expired;
  hooks.onActivity = () => {
    if (state.me) sessionActivity();
  };
  startSessionWatch(
    async () => {
      try {
        await loadMe();
        announce("Votre session est prolongée.");
      } catch (error) {
        announce(explain(error));
      }
    },
    (auto) => logOut(auto),
  );
  wireLoggedOutForms();
  wireInvoices();
  wireAccount();
  $("logout").addEventListener("click", () => logOut(false));
  window.addEventListener("hashchange", () => route());
  const onPublicPage = ["/compte/confirmer", "/mot-de-passe/nouveau"].includes(location.pathname);
  if (!onPublicPage) {
    try {
      await loadMe();
    } catch (error) {
      $("loading").textContent = explain(error);
      return;
    }
    if (state.me) sessionActivity();
  }
  await route();
}

start();
