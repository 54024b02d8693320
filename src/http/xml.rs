//! XML documents in the OpenStack Compute v1.1 shapes, written with quick-xml so that every
//! attribute and text node is escaped; characters XML 1.0 cannot carry at all (most control
//! characters) become U+FFFD instead of breaking the document.

use std::borrow::Cow;

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};

pub const COMPUTE_NS: &str = "http://docs.openstack.org/compute/api/v1.1";
pub const COMMON_NS: &str = "http://docs.openstack.org/common/api/v1.0";
pub const ATOM_NS: &str = "http://www.w3.org/2005/Atom";
/// Namespace of the Cyclades-specific `SNF:` attributes.
pub const SNF_NS: &str = "http://docs.synnefo.org/compute/ext/v1";

pub struct Xml {
    w: Writer<Vec<u8>>,
}

fn clean(s: &str) -> Cow<'_, str> {
    let ok = |c: char| {
        matches!(c, '\t' | '\n' | '\r') || (c >= ' ' && c != '\u{FFFE}' && c != '\u{FFFF}')
    };
    if s.chars().all(ok) {
        Cow::Borrowed(s)
    } else {
        Cow::Owned(
            s.chars()
                .map(|c| if ok(c) { c } else { '\u{FFFD}' })
                .collect(),
        )
    }
}

impl Default for Xml {
    fn default() -> Self {
        Xml::new()
    }
}

impl Xml {
    pub fn new() -> Xml {
        let mut w = Writer::new(Vec::with_capacity(1024));
        // Writing into a Vec cannot fail.
        let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("UTF-8"), None)));
        Xml { w }
    }

    fn element<'a>(name: &'a str, attrs: &[(&str, &str)]) -> BytesStart<'a> {
        let mut e = BytesStart::new(name);
        for (k, v) in attrs {
            e.push_attribute((*k, clean(v).as_ref()));
        }
        e
    }

    /// The document's root, in the compute namespace with the atom prefix declared.
    pub fn start_root(&mut self, name: &str, attrs: &[(&str, &str)]) {
        self.start_root_ns(name, COMPUTE_NS, attrs);
    }

    pub fn start_root_ns(&mut self, name: &str, ns: &str, attrs: &[(&str, &str)]) {
        let mut all = vec![("xmlns", ns), ("xmlns:atom", ATOM_NS)];
        all.extend_from_slice(attrs);
        self.start(name, &all);
    }

    pub fn start(&mut self, name: &str, attrs: &[(&str, &str)]) {
        let _ = self.w.write_event(Event::Start(Self::element(name, attrs)));
    }

    pub fn empty(&mut self, name: &str, attrs: &[(&str, &str)]) {
        let _ = self.w.write_event(Event::Empty(Self::element(name, attrs)));
    }

    pub fn end(&mut self, name: &str) {
        let _ = self.w.write_event(Event::End(BytesEnd::new(name)));
    }

    pub fn text_element(&mut self, name: &str, attrs: &[(&str, &str)], text: &str) {
        self.start(name, attrs);
        let _ = self
            .w
            .write_event(Event::Text(BytesText::new(&clean(text))));
        self.end(name);
    }

    /// `<atom:link rel=".." href=".."/>`
    pub fn link(&mut self, rel: &str, href: &str) {
        self.empty("atom:link", &[("rel", rel), ("href", href)]);
    }

    pub fn finish(self) -> Vec<u8> {
        self.w.into_inner()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_and_cleans() {
        let mut x = Xml::new();
        x.start_root("r", &[("name", "<&\"'> ü\u{1}")]);
        x.text_element("t", &[], "a<b & \u{7}");
        x.end("r");
        let s = String::from_utf8(x.finish()).unwrap();
        assert!(
            s.contains("name=\"&lt;&amp;&quot;&apos;&gt; ü\u{FFFD}\""),
            "{s}"
        );
        assert!(s.contains("<t>a&lt;b &amp; \u{FFFD}</t>"), "{s}");
        // Well-formed: a parser reads it to the end.
        let mut r = quick_xml::Reader::from_str(&s);
        loop {
            match r.read_event().unwrap() {
                Event::Eof => break,
                _ => continue,
            }
        }
    }
}
