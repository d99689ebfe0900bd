"""The fast path: commands in the canonical form read, decided and encoded on msgspec Structs.

The models (``state``) stay the contract; this package answers exactly as they would for
the commands it can, and hands every other back. Read top-down: ``deciding`` (a command's
decision) uses ``recording`` (what a decision makes, and the batch's shared context),
``changes`` (a change's steps), ``events`` (its record), ``command_data`` (the data of each
kind) and ``reading`` (the envelope); below them ``referral`` (the referral as
kept here, beside the models' form), ``leaves`` (what a patch may set), ``validation``
(what the types cannot say) and ``schema`` (the Structs that mirror the models).
"""
