//! The Features operations of [`Memdev`] (Get Supported Features, Get
//! Feature, Set Feature; CXL 3.1 8.2.9.6). The features themselves are
//! `features.rs`.

use uuid::Uuid;

use super::features::{FeatureId, FeatureInfo, SetFeature};
use super::Memdev;
use crate::cxl::retcode::RetCode;

impl Memdev {
    /// The Supported Feature Entries, in Feature Index order (Get Supported
    /// Features).
    pub fn supported_features(&self) -> Vec<FeatureInfo> {
        FeatureId::ALL.iter().map(|f| f.info()).collect()
    }

    /// Part of a feature's readable attributes (Get Feature); see
    /// [`Features::get`](super::features::Features::get).
    pub fn get_feature(
        &self,
        uuid: &Uuid,
        selection: u8,
        offset: u16,
        count: u16,
    ) -> Result<Vec<u8>, RetCode> {
        self.features.get(uuid, selection, offset, count)
    }

    /// Changes a feature's writable attributes, whole or in parts (Set
    /// Feature); see [`Features::set`](super::features::Features::set).
    pub fn set_feature(&mut self, req: &SetFeature<'_>) -> Result<(), RetCode> {
        self.features.set(req)
    }
}
