//! Errors the API answers with, and their HTTP statuses.

use serde::{Deserialize, Serialize};

/// A failed request. The VMM answers with the variants that fit; the
/// server itself produces the others (unknown route, wrong method, body too
/// large, VMM not answering). Every one is sent as `{ "error": message }`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApiError {
    /// 400: the request is malformed or invalid.
    #[error("{0}")]
    BadRequest(String),
    /// 404: unknown device, backend or route.
    #[error("{0}")]
    NotFound(String),
    /// 405: the route exists, not with this method.
    #[error("method {method} not allowed here; allowed: {}", allowed.join(", "))]
    MethodNotAllowed {
        method: String,
        allowed: Vec<&'static str>,
    },
    /// 409: the request conflicts with the current state (backend in use,
    /// overlapping extents, id taken).
    #[error("{0}")]
    Conflict(String),
    /// 408: the client did not send its request head or body in time.
    #[error("{0}")]
    Timeout(String),
    /// 413: the body is larger than the server accepts.
    #[error("request body larger than {limit} bytes")]
    PayloadTooLarge { limit: usize },
    /// 431: the request head (request line and headers) is larger than the
    /// server accepts, or has too many headers.
    #[error("request head larger than {limit} bytes or with too many headers")]
    HeaderTooLarge { limit: usize },
    /// 500: something went wrong inside cxlvmm.
    #[error("{0}")]
    Internal(String),
    /// 503: the VMM is shutting down or does not answer.
    #[error("{0}")]
    Unavailable(String),
}

impl ApiError {
    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest(_) => 400,
            ApiError::NotFound(_) => 404,
            ApiError::MethodNotAllowed { .. } => 405,
            ApiError::Conflict(_) => 409,
            ApiError::Timeout(_) => 408,
            ApiError::PayloadTooLarge { .. } => 413,
            ApiError::HeaderTooLarge { .. } => 431,
            ApiError::Internal(_) => 500,
            ApiError::Unavailable(_) => 503,
        }
    }

    /// The usual answer while the VM stops.
    pub fn shutting_down() -> Self {
        ApiError::Unavailable("the VM is shutting down".into())
    }

    /// The JSON body.
    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: self.to_string(),
        }
    }
}

/// The JSON body of every error response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statuses_and_messages() {
        let e = ApiError::MethodNotAllowed {
            method: "DELETE".into(),
            allowed: vec!["GET", "POST"],
        };
        assert_eq!(e.status(), 405);
        assert_eq!(
            e.to_string(),
            "method DELETE not allowed here; allowed: GET, POST"
        );
        let e = ApiError::PayloadTooLarge { limit: 10 };
        assert_eq!(e.status(), 413);
        assert_eq!(
            serde_json::to_string(&e.body()).unwrap(),
            r#"{"error":"request body larger than 10 bytes"}"#
        );
        assert_eq!(ApiError::shutting_down().status(), 503);
    }
}
