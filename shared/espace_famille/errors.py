"""Domain errors, each with the HTTP status and error code of the API contract (docs/api.md)."""

from __future__ import annotations


class DomainError(Exception):
    status = 400
    code = "bad_request"
    message = "Requête invalide."

    def __init__(self, message: str | None = None, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(message or self.message)
        self.message = message or self.message
        self.headers = headers or {}


class ValidationFailed(DomainError):
    status, code, message = 422, "validation_error", "Les données envoyées ne sont pas valides."


class InvalidJson(DomainError):
    status, code, message = 400, "invalid_json", "Le corps de la requête n’est pas du JSON valide."


class PayloadTooLarge(DomainError):
    status, code, message = 413, "payload_too_large", "La requête est trop volumineuse."


class UnsupportedMediaType(DomainError):
    status, code, message = (
        415,
        "unsupported_media_type",
        "Le corps de la requête doit être du JSON (application/json).",
    )


class BadOrigin(DomainError):
    status, code, message = 403, "bad_origin", "Cette requête ne provient pas du site Espace Famille."


class Unauthenticated(DomainError):
    status, code, message = 401, "unauthenticated", "Veuillez vous connecter."


class InvalidCredentials(DomainError):
    status, code, message = 401, "invalid_credentials", "Adresse e-mail ou mot de passe incorrect."


class InvalidToken(DomainError):
    status, code, message = 400, "invalid_token", "Ce lien n’est plus valide. Demandez-en un nouveau."


class NotFound(DomainError):
    status, code, message = 404, "not_found", "Ressource introuvable."


class InvoiceNotFound(DomainError):
    status, code, message = (
        404,
        "invoice_not_found",
        "Aucune facture ne correspond à ces informations. Vérifiez l’identifiant, la référence et la clé.",
    )


class RateLimited(DomainError):
    status, code, message = 429, "rate_limited", "Trop de tentatives. Réessayez plus tard."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, retry_after))})
        self.retry_after = max(1, retry_after)


class ServiceUnavailable(DomainError):
    status, code, message = 503, "service_unavailable", "Le service est momentanément indisponible."
