//! `cxlvmm-remote fault-add`, `fault-list`, `fault-clear` and `dc-fault`:
//! the device misbehaves on purpose (`/devices/{id}/faults`,
//! `/devices/{id}/dc-faults`).

use api::{ApiRequest, DcFaultRequest, FaultRequest};
use clap::{Args, ValueEnum};

/// A decimal or `0x` hex number.
fn num<T: TryFrom<u64>>(s: &str) -> Result<T, String> {
    let t = s.trim();
    let v = match t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16),
        None => t.parse::<u64>(),
    }
    .map_err(|_| format!("invalid number '{s}'"))?;
    T::try_from(v).map_err(|_| format!("{s} is out of range"))
}

fn u16n(s: &str) -> Result<u16, String> {
    num(s)
}
fn u32n(s: &str) -> Result<u32, String> {
    num(s)
}

/// The mailbox fault kinds.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultKind {
    /// Answer --opcode with --return-code without running it.
    ReturnCode,
    /// Leave Doorbell set for --hold-ms, then drop the command.
    DoorbellStuck,
    /// Hold --opcode as a background operation for --ms.
    BackgroundHold,
}

#[derive(Args, Debug, PartialEq, Eq)]
pub struct FaultAddArgs {
    /// The CXL device's id.
    pub device: String,
    /// What the device does.
    #[arg(long, value_enum)]
    pub kind: FaultKind,
    /// The command's opcode (e.g. 0x4000); optional for doorbell-stuck
    /// (any command).
    #[arg(long, value_parser = u16n)]
    pub opcode: Option<u16>,
    /// The return code (CXL 3.1 8.2.8.4.5.1, e.g. 0x4 Internal Error).
    #[arg(long, value_parser = u16n)]
    pub return_code: Option<u16>,
    /// How long Doorbell stays set, in ms (default 3000).
    #[arg(long, value_parser = u32n)]
    pub hold_ms: Option<u32>,
    /// How long the background operation runs, in ms.
    #[arg(long, value_parser = u32n)]
    pub ms: Option<u32>,
    /// How many commands (default 1).
    #[arg(long, value_parser = u32n, default_value_t = 1)]
    pub count: u32,
}

impl FaultAddArgs {
    pub fn request(&self) -> Result<ApiRequest, String> {
        let need = |v: Option<u16>, what: &str| {
            v.ok_or_else(|| format!("--kind {} needs --{what}", self.kind_name()))
        };
        let only = |given: bool, what: &str| {
            if given {
                Err(format!("--kind {} takes no --{what}", self.kind_name()))
            } else {
                Ok(())
            }
        };
        let fault = match self.kind {
            FaultKind::ReturnCode => {
                only(self.hold_ms.is_some(), "hold-ms")?;
                only(self.ms.is_some(), "ms")?;
                FaultRequest::ReturnCode {
                    opcode: need(self.opcode, "opcode")?,
                    return_code: need(self.return_code, "return-code")?,
                    count: self.count,
                }
            }
            FaultKind::DoorbellStuck => {
                only(self.return_code.is_some(), "return-code")?;
                only(self.ms.is_some(), "ms")?;
                FaultRequest::DoorbellStuck {
                    opcode: self.opcode,
                    hold_ms: self.hold_ms,
                    count: self.count,
                }
            }
            FaultKind::BackgroundHold => {
                only(self.return_code.is_some(), "return-code")?;
                only(self.hold_ms.is_some(), "hold-ms")?;
                FaultRequest::BackgroundHold {
                    opcode: need(self.opcode, "opcode")?,
                    ms: self
                        .ms
                        .ok_or_else(|| "--kind background-hold needs --ms".to_string())?,
                    count: self.count,
                }
            }
        };
        Ok(ApiRequest::FaultAdd {
            device: self.device.clone(),
            fault,
        })
    }

    fn kind_name(&self) -> &'static str {
        match self.kind {
            FaultKind::ReturnCode => "return-code",
            FaultKind::DoorbellStuck => "doorbell-stuck",
            FaultKind::BackgroundHold => "background-hold",
        }
    }
}

#[derive(Args, Debug, PartialEq, Eq)]
pub struct FaultClearArgs {
    /// The CXL device's id.
    pub device: String,
    /// Only this fault (default: every fault of the device).
    #[arg(long, value_parser = u32n)]
    pub id: Option<u32>,
}

impl FaultClearArgs {
    pub fn request(&self) -> ApiRequest {
        ApiRequest::FaultClear {
            device: self.device.clone(),
            fault: self.id,
        }
    }
}

/// The Dynamic Capacity fault kinds.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum DcFaultKind {
    /// An extent off the region's block size.
    Misaligned,
    /// An extent overlapping one the host holds.
    Overlapping,
    /// An extent outside every DC region.
    OutsideRegion,
    /// A More chain that never ends.
    EndlessMore,
    /// A Release Capacity record for an extent never accepted.
    ReleaseUnaccepted,
}

#[derive(Args, Debug, PartialEq, Eq)]
pub struct DcFaultArgs {
    /// The CXL device's id.
    pub device: String,
    /// Which records to post.
    #[arg(long, value_enum)]
    pub kind: DcFaultKind,
    /// The region (misaligned, endless-more, release-unaccepted; default 0).
    #[arg(long)]
    pub region: Option<u8>,
    /// How many records (endless-more; default 1).
    #[arg(long, value_parser = u32n)]
    pub records: Option<u32>,
}

impl DcFaultArgs {
    pub fn request(&self) -> Result<ApiRequest, String> {
        let region = self.region.unwrap_or(0);
        let no_region = || match self.region {
            Some(_) => Err("this --kind takes no --region".to_string()),
            None => Ok(()),
        };
        if self.records.is_some() && self.kind != DcFaultKind::EndlessMore {
            return Err("--records is for --kind endless-more".into());
        }
        let fault = match self.kind {
            DcFaultKind::Misaligned => DcFaultRequest::Misaligned { region },
            DcFaultKind::Overlapping => {
                no_region()?;
                DcFaultRequest::Overlapping {}
            }
            DcFaultKind::OutsideRegion => {
                no_region()?;
                DcFaultRequest::OutsideRegion {}
            }
            DcFaultKind::EndlessMore => DcFaultRequest::EndlessMore {
                region,
                records: self.records.unwrap_or(1),
            },
            DcFaultKind::ReleaseUnaccepted => DcFaultRequest::ReleaseUnaccepted { region },
        };
        Ok(ApiRequest::DcFaultAdd {
            device: self.device.clone(),
            fault,
        })
    }
}

#[cfg(test)]
#[path = "fault_args_tests.rs"]
mod tests;
