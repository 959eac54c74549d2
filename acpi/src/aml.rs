//! AML pieces acpi_tables 0.2.1 lacks.

use acpi_tables::{Aml, AmlSink};

/// LOrOp (ACPI 6.5 20.2.5.4, Expression Opcodes Encoding).
const LOR_OP: u8 = 0x91;

/// Already-encoded AML, so builders can hand back owned objects.
pub(crate) struct Raw(pub(crate) Vec<u8>);

impl Aml for Raw {
    fn to_aml_bytes(&self, sink: &mut dyn AmlSink) {
        sink.vec(&self.0);
    }
}

/// `LOr (left, right)`: logical or of two integers (ACPI 6.5 ASL `LOr`).
pub(crate) struct LOr<'a> {
    left: &'a dyn Aml,
    right: &'a dyn Aml,
}

impl<'a> LOr<'a> {
    pub(crate) fn new(left: &'a dyn Aml, right: &'a dyn Aml) -> Self {
        Self { left, right }
    }
}

impl Aml for LOr<'_> {
    fn to_aml_bytes(&self, sink: &mut dyn AmlSink) {
        sink.byte(LOR_OP);
        self.left.to_aml_bytes(sink);
        self.right.to_aml_bytes(sink);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use acpi_tables::aml::{Arg, ONE, ZERO};

    #[test]
    fn lor_encoding() {
        let mut b = Vec::new();
        LOr::new(&Arg(0), &ONE).to_aml_bytes(&mut b);
        assert_eq!(b, [0x91, 0x68, 0x01]);
        let mut b = Vec::new();
        Raw(vec![1, 2]).to_aml_bytes(&mut b);
        ZERO.to_aml_bytes(&mut b);
        assert_eq!(b, [1, 2, 0]);
    }
}
