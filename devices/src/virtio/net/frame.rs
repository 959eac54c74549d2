//! Sizes of what crosses the queues and the tap: the virtio-net header
//! (virtio 1.2, 5.1.6) and the Ethernet frame behind it.

use std::mem::{offset_of, size_of};

use virtio_bindings::virtio_net::virtio_net_hdr_v1;

/// struct virtio_net_hdr_v1 (5.1.6: the header with VIRTIO_F_VERSION_1,
/// num_buffers included, whether MRG_RXBUF is negotiated or not).
pub const HEADER_SIZE: usize = size_of::<virtio_net_hdr_v1>();
/// Offset of num_buffers in the header (5.1.6).
pub const NUM_BUFFERS_OFFSET: usize = offset_of!(virtio_net_hdr_v1, num_buffers);
/// An Ethernet header: destination, source, type.
pub const ETH_HLEN: usize = 14;
/// The largest frame either way: an Ethernet header, a VLAN tag and the
/// largest MTU Linux's virtio_net allows without VIRTIO_NET_F_MTU.
pub const MAX_FRAME_LEN: usize = ETH_HLEN + 4 + 65535;
