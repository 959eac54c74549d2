//! cxlvmm's operator API: JSON over HTTP/1.1 on a unix socket.
//!
//! The VMM side:
//!
//! ```no_run
//! # use api::*;
//! let (server, requests) = ApiServer::start("/run/cxlvmm.sock", ApiServerConfig::default())?;
//! // Register `requests` (AsRawFd) with the event loop; when readable:
//! while let Some((request, responder)) = requests.try_recv() {
//!     let answer = match request {
//!         ApiRequest::DeviceList => Ok(ApiResponse::Devices(vec![])),
//!         _ => Err(ApiError::Internal("not yet".into())),
//!     };
//!     responder.respond(answer);
//! }
//! server.shutdown(); // stops the thread, removes the socket file
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Operators use [`ApiClient`] or the `cxlvmm-remote` binary.

mod channel;
mod client;
mod error;
mod event_client;
pub mod events;
mod http;
pub mod qmp;
mod request;
pub mod routes;
mod server;
mod socket;
mod stream;
pub mod types;

pub use channel::{channel, ApiReceiver, ApiResult, ApiSender, Responder};
pub use client::{ApiClient, ApiClientError, RawResponse};
pub use error::{ApiError, ErrorBody};
pub use event_client::EventLines;
pub use events::EventRing;
pub use http::{parse_raw_request, DEFAULT_MAX_HEAD, MAX_HEADERS};
pub use request::{ApiRequest, ApiResponse, HttpRequest};
pub use routes::{Endpoint, Route, API_PREFIX, ROUTES};
pub use server::{ApiServer, ApiServerConfig, ApiServerHandle, ThreadInit};
pub use socket::SOCKET_MODE;
pub use types::*;
