"""Data straight from hospital systems: HL7 v2 ADT over MLLP and FHIR R4 Encounters, as ward stays.

The pure parts (`adt`: events to stays; `hl7v2`: a message to an event, and its answer; `fhir`: Encounters to
stays; `locations`: points of care to units) import nothing of the edges; `journal` (the database) and `listener`
(the MLLP server) are the edges.
"""
