"""``$metadata``: a minimal OData CSDL (4.0, XML) of the ``referrals`` entity set, so that
OData clients can connect where a list's ``@odata.context`` points.

The service root is ``/v1.0/engagements``: its ``referrals`` entity set is the list route.
The ``Referral`` entity type names the properties ``$filter`` takes
(``service.store.query.FIELDS``, a path such as ``customerProfile/address/country`` as
nested complex types, and the team's e-mails, which ``team/any(...)`` reads); it is open,
since a referral holds more than these. Capabilities annotations say what a list does:
ordered by the two date-times only, ``$top`` and ``$count`` yes, ``$skip`` no.
"""

import xml.etree.ElementTree as ET
from typing import Final

from service.store.query import FIELDS, ORDER_FIELDS, Kind

SERVICE_ROOT: Final = "/v1.0/engagements"
ENTITY_SET: Final = "referrals"
PATH: Final = f"{SERVICE_ROOT}/$metadata"
MEDIA_TYPE: Final = "application/xml"
NAMESPACE: Final = "Referrals"
_EDMX: Final = "http://docs.oasis-open.org/odata/ns/edmx"
_EDM: Final = "http://docs.oasis-open.org/odata/ns/edm"
_CAPABILITIES: Final = "Org.OData.Capabilities.V1"
_CAPABILITIES_URI: Final = (
    "https://oasis-tcs.github.io/odata-vocabularies/vocabularies/Org.OData.Capabilities.V1.xml"
)
_TYPES: Final = {Kind.TEXT: "Edm.String", Kind.TIME: "Edm.DateTimeOffset"}
#: A property's path -> its type: the filter fields, and the team ``team/any(...)`` reads.
Tree = dict[str, "Tree | str"]


def context_url(root: str) -> str:
    """A list's ``@odata.context``: the entity set in this document (``root``: public URL)."""
    return f"{root}{PATH}#{ENTITY_SET}"


def _properties() -> Tree:
    tree: Tree = {}
    for name, column in FIELDS.items():
        *parents, leaf = name.split("/")
        node = tree
        for parent in parents:
            child = node.setdefault(parent, {})
            assert isinstance(child, dict)
            node = child
        node[leaf] = _TYPES[column.kind]
    return {**tree, "team": f"Collection({NAMESPACE}.Member)"}


def _type_name(property_name: str) -> str:
    return property_name[0].upper() + property_name[1:]


def _add_type(schema: ET.Element, tag: str, name: str, properties: Tree) -> ET.Element:
    """A structured type and, before it, the complex types of its nested properties."""
    for child_name, child in properties.items():
        if isinstance(child, dict):
            _add_type(schema, "ComplexType", _type_name(child_name), child)
    element = ET.SubElement(schema, tag, Name=name)
    for child_name, child in properties.items():
        kind = f"{NAMESPACE}.{_type_name(child_name)}" if isinstance(child, dict) else child
        ET.SubElement(element, "Property", Name=child_name, Type=kind)
    return element


def _entity_type(schema: ET.Element) -> None:
    member = ET.SubElement(schema, "ComplexType", Name="Member")
    ET.SubElement(member, "Property", Name="email", Type="Edm.String")
    referral = _add_type(schema, "EntityType", "Referral", _properties())
    referral.set("OpenType", "true")
    key = ET.Element("Key")
    ET.SubElement(key, "PropertyRef", Name="id")
    referral.insert(0, key)
    for element in referral.iter("Property"):
        if element.get("Name") == "id":
            element.set("Nullable", "false")


def _annotation(parent: ET.Element, term: str) -> ET.Element:
    return ET.SubElement(parent, "Annotation", Term=f"{_CAPABILITIES}.{term}")


def _capabilities(entity_set: ET.Element) -> None:
    """Orders by the two date-times only; $top and $count; no $skip."""
    sort = ET.SubElement(_annotation(entity_set, "SortRestrictions"), "Record")
    unsortable = ET.SubElement(
        ET.SubElement(sort, "PropertyValue", Property="NonSortableProperties"), "Collection"
    )
    for name in FIELDS:
        if name not in ORDER_FIELDS:
            ET.SubElement(unsortable, "PropertyPath").text = name
    _annotation(entity_set, "TopSupported").set("Bool", "true")
    _annotation(entity_set, "SkipSupported").set("Bool", "false")
    counted = ET.SubElement(_annotation(entity_set, "CountRestrictions"), "Record")
    ET.SubElement(counted, "PropertyValue", Property="Countable", Bool="true")


def csdl() -> bytes:
    """The CSDL XML document."""
    edmx = ET.Element("edmx:Edmx", {"xmlns:edmx": _EDMX, "Version": "4.0"})
    reference = ET.SubElement(edmx, "edmx:Reference", Uri=_CAPABILITIES_URI)
    ET.SubElement(reference, "edmx:Include", Namespace=_CAPABILITIES, Alias="Capabilities")
    services = ET.SubElement(edmx, "edmx:DataServices")
    schema = ET.SubElement(services, "Schema", xmlns=_EDM, Namespace=NAMESPACE)
    _entity_type(schema)
    container = ET.SubElement(schema, "EntityContainer", Name="Container")
    entity_set = ET.SubElement(
        container, "EntitySet", Name=ENTITY_SET, EntityType=f"{NAMESPACE}.Referral"
    )
    _capabilities(entity_set)
    document: bytes = ET.tostring(edmx, encoding="utf-8", xml_declaration=True)
    return document


DOCUMENT: Final = csdl()
