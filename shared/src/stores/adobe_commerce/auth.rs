//! How each request is authenticated: OAuth 1.0a from an integration (PaaS), its access token
//! as a Bearer token (PaaS, where the store allows it), or an Adobe IMS client-credentials
//! token (SaaS) cached until shortly before it expires and fetched again once on a 401.

use std::time::{Duration, Instant};

use url::Url;

use super::*;
use crate::error::{Error, Result};
use crate::http::oauth1;
use crate::ports::Secret;

/// The scopes a Cloud Service token needs; `commerce.accs` is the one that opens the REST API.
pub const IMS_SCOPES: [&str; 7] = [
    "openid",
    "AdobeID",
    "email",
    "profile",
    "additional_info.roles",
    "additional_info.projectedProductContext",
    "commerce.accs",
];

/// Adobe's IMS token endpoint.
pub const IMS_TOKEN_URL: &str = "https://ims-na1.adobelogin.com/ims/token/v3";

/// The token request's form body, in the body (a query string may be logged).
pub fn ims_token_form(client_id: &str, client_secret: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client_id", client_id)
        .append_pair("client_secret", client_secret)
        .append_pair("grant_type", "client_credentials")
        .append_pair("scope", &IMS_SCOPES.join(","))
        .finish()
}

/// The credentials of one connection.
pub enum Credentials {
    OAuth1 { consumer_key: Secret, consumer_secret: Secret, token: Secret, token_secret: Secret },
    Bearer { token: Secret },
    Ims { client_id: Secret, client_secret: Secret, org_id: String, token_url: Url },
}

fn need(secrets: &SecretBundle, name: &str, what: &str) -> Result<Secret> {
    secrets.get(name).cloned().ok_or_else(|| {
        Error::permanent(anyhow::anyhow!(
            "{what} needs the secret {name} (`mlc connection add` reads it from MLC_{})",
            name.to_ascii_uppercase()
        ))
    })
}

impl Credentials {
    pub fn of(deployment: Deployment, settings: &AdobeSettings, secrets: &SecretBundle) -> Result<Credentials> {
        match deployment {
            Deployment::Paas if settings.bearer => {
                Ok(Credentials::Bearer { token: need(secrets, SECRET_ACCESS_TOKEN, "a Bearer connection")? })
            }
            Deployment::Paas => {
                let what = "an OAuth 1.0a (PaaS) connection";
                Ok(Credentials::OAuth1 {
                    consumer_key: need(secrets, SECRET_CONSUMER_KEY, what)?,
                    consumer_secret: need(secrets, SECRET_CONSUMER_SECRET, what)?,
                    token: need(secrets, SECRET_ACCESS_TOKEN, what)?,
                    token_secret: need(secrets, SECRET_ACCESS_TOKEN_SECRET, what)?,
                })
            }
            Deployment::Saas => {
                let what = "a Cloud Service (IMS) connection";
                let org_id = settings.ims_org_id.clone().ok_or_else(|| {
                    Error::permanent(anyhow::anyhow!("{what} needs its IMS organization id (--ims-org-id)"))
                })?;
                let token_url = match &settings.ims_url {
                    Some(u) => u.clone(),
                    None => Url::parse(IMS_TOKEN_URL).expect("a valid URL"),
                };
                Ok(Credentials::Ims {
                    client_id: need(secrets, SECRET_IMS_CLIENT_ID, what)?,
                    client_secret: need(secrets, SECRET_IMS_CLIENT_SECRET, what)?,
                    org_id,
                    token_url,
                })
            }
        }
    }

    /// `Authorization: OAuth …` for one request (its query signed too).
    pub fn oauth_header(&self, method: &str, url: &Url) -> Option<String> {
        let Credentials::OAuth1 { consumer_key, consumer_secret, token, token_secret } = self else { return None };
        let signer = oauth1::Signer {
            consumer_key: consumer_key.expose(),
            consumer_secret: consumer_secret.expose(),
            token: Some((token.expose(), token_secret.expose())),
        };
        Some(signer.authorization(method, url, &oauth1::nonce(), chrono::Utc::now().timestamp()))
    }
}

/// An IMS token and when to stop using it.
pub struct CachedToken {
    pub token: Secret,
    pub refresh_at: Instant,
}

/// Used until a tenth of its life (at most five minutes) before `expires_in`: a request sent
/// just before expiry must not arrive just after.
pub fn refresh_at(obtained: Instant, expires_in: u64) -> Instant {
    let life = Duration::from_secs(expires_in);
    obtained + life - (life / 10).min(Duration::from_secs(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_dropped_a_tenth_of_its_life_before_it_expires_at_most_five_minutes() {
        let now = Instant::now();
        assert_eq!(refresh_at(now, 86_399), now + Duration::from_secs(86_399 - 300));
        assert_eq!(refresh_at(now, 60), now + Duration::from_secs(54));
    }
}
