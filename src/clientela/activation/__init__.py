"""Acting on what the job knows: segments, the next best action and the contact policy that
stops it when it must, loyalty and referral programmes, and delivery to destinations.

* :mod:`.segments`: saved definitions of contacts, their members and membership history;
* :mod:`.playbook`: at most one proposed action per contact per run, with reason and priority;
* :mod:`.policy`: consent, do-not-contact, frequency caps, quiet hours, non-buyer classes;
* :mod:`.loyalty`: the points ledger, balances, tiers and referral attribution;
* :mod:`.destinations`: files and signed webhooks, with retries and a dead-letter store;
* :mod:`.job`: how the main job runs them, in order;
* :mod:`.tables`: the shapes of the published tables they write.
"""
