// The JSON API, same origin: the session cookie goes with every request.

export class ApiError extends Error {
  constructor(status, code, message, retryAfter) {
    super(message);
    this.status = status;
    this.code = code;
    this.retryAfter = retryAfter;
  }
}

// Called when the API says the session is gone (the authorizer's 401/403), and after each authenticated success.
export const hooks = { onExpired: () => {}, onActivity: () => {} };

export async function api(method, path, body) {
  const init = { method, credentials: "same-origin", headers: { Accept: "application/json" } };
  if (body !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, init);
  } catch {
    throw new ApiError(0, "network", "Le service est injoignable. Vérifiez votre connexion puis réessayez.");
  }
  let data = null;
  const text = await response.text();
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (response.ok) {
    hooks.onActivity();
    return data;
  }
  const retry = Number.parseInt(response.headers.get("Retry-After") || "", 10);
  const retryAfter = Number.isFinite(retry) ? retry : null;
  if (data && typeof data.error === "string") {
    throw new ApiError(response.status, data.error, data.message || "", retryAfter);
  }
  if (response.status === 401 || response.status === 403) {
    // The gateway's own answer: no session, or one that expired.
    const error = new ApiError(response.status, "session_expired", "Votre session a expiré.");
    hooks.onExpired(error);
    throw error;
  }
  throw new ApiError(response.status, "unexpected", "Une erreur inattendue s’est produite. Réessayez dans un instant.");
}

export function explain(error) {
  // The sentence shown next to what caused it.
  if (!(error instanceof ApiError)) {
    return "Une erreur inattendue s’est produite. Réessayez dans un instant.";
  }
  if (error.status === 429) {
    const seconds = error.retryAfter || 60;
    const minutes = Math.ceil(seconds / 60);
    const when = seconds < 60 ? `${seconds} seconde${seconds > 1 ? "s" : ""}` : `${minutes} minute${minutes > 1 ? "s" : ""}`;
    return `Trop de tentatives. Réessayez dans ${when}.`;
  }
  if (error.status === 503 && error.code === "provider_unavailable") {
    return "Le paiement en ligne est momentanément indisponible. Rien n’a été payé ni perdu : vos factures restent à payer, réessayez un peu plus tard.";
  }
  if (error.code === "invalid_token") {
    return "Ce lien n’est plus valable (déjà utilisé ou trop ancien). Demandez-en un nouveau.";
  }
  return error.message || "Une erreur inattendue s’est produite. Réessayez dans un instant.";
}
