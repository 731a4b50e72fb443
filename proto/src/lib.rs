//! Wire definitions: the generated code for minimal, wire-compatible copies of the Kuma and
//! Envoy `.proto` files under `proto/` (same packages, message names and field numbers), and of
//! our own DP server protocol.
//!
//! Each protocol is a cargo feature, so a binary compiles only what it speaks: `kds` (`google`,
//! `envoy`, `kuma`: the KDS services and what they carry; the control planes) and `dp`
//! (`kumars`: kuma-dp ↔ the zone's DP server). Modules mirror the protobuf packages. This crate owns only generated code; it must not hold
//! domain logic or conversions to `shared` types (those live in `shared::kds`). Map fields are
//! `BTreeMap`s, so encoding a message always yields the same bytes.

/// `google.rpc`: the status carried in a NACK.
#[cfg(feature = "kds")]
pub mod google {
    /// `google.rpc`.
    pub mod rpc {
        #![allow(missing_docs, clippy::all, clippy::pedantic)]
        tonic::include_proto!("google.rpc");
    }
}

/// `envoy.*`: the delta xDS messages KDS streams.
#[cfg(feature = "kds")]
pub mod envoy {
    /// `envoy.config.*`.
    pub mod config {
        /// `envoy.config.core.*`.
        pub mod core {
            /// `envoy.config.core.v3`: `Node`, `ControlPlane`.
            pub mod v3 {
                #![allow(missing_docs, clippy::all, clippy::pedantic)]
                tonic::include_proto!("envoy.config.core.v3");
            }
        }
    }

    /// `envoy.service.*`.
    pub mod service {
        /// `envoy.service.discovery.*`.
        pub mod discovery {
            /// `envoy.service.discovery.v3`: `DeltaDiscoveryRequest`, `DeltaDiscoveryResponse`,
            /// `Resource`.
            pub mod v3 {
                #![allow(missing_docs, clippy::all, clippy::pedantic)]
                tonic::include_proto!("envoy.service.discovery.v3");
            }
        }
    }
}

/// `kuma.*`: Kuma's resource specs, the KDS envelope and the KDS services.
#[cfg(feature = "kds")]
pub mod kuma {
    /// `kuma.mesh.*`.
    pub mod mesh {
        /// `kuma.mesh.v1alpha1`: mesh-scoped specs, `KumaResource`, `KDSSyncService`,
        /// `GlobalKDSService`.
        pub mod v1alpha1 {
            #![allow(missing_docs, clippy::all, clippy::pedantic)]
            tonic::include_proto!("kuma.mesh.v1alpha1");
        }
    }

    /// `kuma.system.*`.
    pub mod system {
        /// `kuma.system.v1alpha1`: `Secret`, `Zone`, `ZoneInsight`, `DataSource`.
        pub mod v1alpha1 {
            #![allow(missing_docs, clippy::all, clippy::pedantic)]
            tonic::include_proto!("kuma.system.v1alpha1");
        }
    }
}

/// `kumars.*`: protocols of our own (not Kuma's).
#[cfg(feature = "dp")]
pub mod kumars {
    /// `kumars.dp.*`.
    pub mod dp {
        /// `kumars.dp.v1`: kuma-dp ↔ the zone's DP server (identity by CSR, rotation, revocation).
        pub mod v1 {
            #![allow(missing_docs, clippy::all, clippy::pedantic)]
            tonic::include_proto!("kumars.dp.v1");
        }
    }
}

/// The directory holding the `.proto` sources, for tools that compile them independently.
pub const PROTO_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/proto");
