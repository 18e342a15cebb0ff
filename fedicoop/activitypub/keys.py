"""Actor key pairs: RSA-2048 for HTTP signatures."""

from dataclasses import dataclass, field

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa


@dataclass(frozen=True)
class KeyPair:
    """A PEM-encoded key pair."""

    public_pem: str
    private_pem: str = field(repr=False)


def generate_rsa_keypair() -> KeyPair:
    """Make a fresh RSA-2048 key pair (PKCS#8 private, SPKI public), as Mastodon uses."""
    private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        private_key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return KeyPair(public_pem=public_pem, private_pem=private_pem)
