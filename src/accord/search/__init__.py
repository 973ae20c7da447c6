"""Hit/no-hit search across borders (issue 8): match keys first; index, matcher and protocol follow."""

from accord.search.keys import (
    VinKey,
    document_key,
    email_key,
    iban_key,
    mrz_check_digit,
    phone_key,
    plate_key,
    vin_key,
    wallet_key,
)

__all__ = [
    "VinKey", "document_key", "email_key", "iban_key", "mrz_check_digit", "phone_key",
    "plate_key", "vin_key", "wallet_key",
]
