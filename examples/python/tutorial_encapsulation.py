# Toil documentation example tutorial_encapsulation.py (B after A and all its successors,
# through an extra parent Ap), run on moil. Only the import lines differ from Toil's.
import os
import tempfile

from runner import Job, Toil

if __name__ == "__main__":
    A = Job()
    A.addChild(Job())
    A.addFollowOn(Job())

    B = Job()

    Ap = Job()
    Ap.addChild(A)
    Ap.addFollowOn(B)

    jobstore: str = tempfile.mkdtemp("tutorial_encapsulations")
    os.rmdir(jobstore)
    options = Job.Runner.getDefaultOptions(jobstore)
    options.logLevel = "INFO"
    options.clean = "always"

    with Toil(options) as toil:
        print(toil.start(Ap))
