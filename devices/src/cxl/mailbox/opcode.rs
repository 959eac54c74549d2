//! Opcodes of the implemented memory device commands (CXL 3.1 8.2.9).

/// Opcodes of the implemented commands (CXL 3.1 8.2.9, Tables 8-37 and
/// 8-126).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u16)]
pub enum Opcode {
    /// 8.2.9.1.1 Identify.
    Identify = 0x0001,
    /// 8.2.9.1.2 Background Operation Status.
    BackgroundOperationStatus = 0x0002,
    /// 8.2.9.1.5 Request Abort Background Operation.
    RequestAbortBackgroundOperation = 0x0005,
    /// 8.2.9.2.2 Get Event Records.
    GetEventRecords = 0x0100,
    /// 8.2.9.2.3 Clear Event Records.
    ClearEventRecords = 0x0101,
    /// 8.2.9.2.4 Get Event Interrupt Policy.
    GetEventInterruptPolicy = 0x0102,
    /// 8.2.9.2.5 Set Event Interrupt Policy.
    SetEventInterruptPolicy = 0x0103,
    /// 8.2.9.3.1 Get FW Info.
    GetFwInfo = 0x0200,
    /// 8.2.9.3.2 Transfer FW.
    TransferFw = 0x0201,
    /// 8.2.9.3.3 Activate FW.
    ActivateFw = 0x0202,
    /// 8.2.9.4.1 Get Timestamp.
    GetTimestamp = 0x0300,
    /// 8.2.9.4.2 Set Timestamp.
    SetTimestamp = 0x0301,
    /// 8.2.9.5.1 Get Supported Logs.
    GetSupportedLogs = 0x0400,
    /// 8.2.9.5.2 Get Log.
    GetLog = 0x0401,
    /// 8.2.9.6.1 Get Supported Features.
    GetSupportedFeatures = 0x0500,
    /// 8.2.9.6.2 Get Feature.
    GetFeature = 0x0501,
    /// 8.2.9.6.3 Set Feature.
    SetFeature = 0x0502,
    /// 8.2.9.9.1.1 Identify Memory Device.
    IdentifyMemoryDevice = 0x4000,
    /// 8.2.9.9.2.1 Get Partition Info.
    GetPartitionInfo = 0x4100,
    /// 8.2.9.9.2.2 Set Partition Info.
    SetPartitionInfo = 0x4101,
    /// 8.2.9.9.2.3 Get LSA.
    GetLsa = 0x4102,
    /// 8.2.9.9.2.4 Set LSA.
    SetLsa = 0x4103,
    /// 8.2.9.9.3.1 Get Health Info.
    GetHealthInfo = 0x4200,
    /// 8.2.9.9.3.2 Get Alert Configuration.
    GetAlertConfig = 0x4201,
    /// 8.2.9.9.3.3 Set Alert Configuration.
    SetAlertConfig = 0x4202,
    /// 8.2.9.9.4.1 Get Poison List.
    GetPoisonList = 0x4300,
    /// 8.2.9.9.4.2 Inject Poison.
    InjectPoison = 0x4301,
    /// 8.2.9.9.4.3 Clear Poison.
    ClearPoison = 0x4302,
    /// 8.2.9.9.4.4 Get Scan Media Capabilities.
    GetScanMediaCapabilities = 0x4303,
    /// 8.2.9.9.4.5 Scan Media.
    ScanMedia = 0x4304,
    /// 8.2.9.9.4.6 Get Scan Media Results.
    GetScanMediaResults = 0x4305,
    /// 8.2.9.9.5.1 Sanitize.
    Sanitize = 0x4400,
    /// 8.2.9.9.5.2 Secure Erase.
    SecureErase = 0x4401,
    /// 8.2.9.9.6.1 Get Security State.
    GetSecurityState = 0x4500,
    /// 8.2.9.9.6.2 Set Passphrase.
    SetPassphrase = 0x4501,
    /// 8.2.9.9.6.3 Disable Passphrase.
    DisablePassphrase = 0x4502,
    /// 8.2.9.9.6.4 Unlock.
    Unlock = 0x4503,
    /// 8.2.9.9.6.5 Freeze Security State.
    FreezeSecurityState = 0x4504,
    /// 8.2.9.9.6.6 Passphrase Secure Erase.
    PassphraseSecureErase = 0x4505,
    /// 8.2.9.9.9.1 Get Dynamic Capacity Configuration.
    GetDcConfig = 0x4800,
    /// 8.2.9.9.9.2 Get Dynamic Capacity Extent List.
    GetDcExtentList = 0x4801,
    /// 8.2.9.9.9.3 Add Dynamic Capacity Response.
    AddDcResponse = 0x4802,
    /// 8.2.9.9.9.4 Release Dynamic Capacity.
    ReleaseDc = 0x4803,
}
